# The summary of a run of GRUB's functional-test image (ci/build-grub-images.sh) from its
# console output: "NAME: PASS" lines, "ALL TESTS PASSED" lines, lines with FAIL (a test's
# "NAME: FAIL" or functional_test's "TEST FAILURE"), and whether the script got to its end.
# Used on both sides of the comparison in ci/xen/boot-test.sh (xdbt run, and in dom0).
{ gsub(/\r/, "") }
/ PASS$/ { pass++ }
/ALL TESTS PASSED/ { all++ }
/FAIL/ { fail++ }
/XDBT-FUNCTEST-END/ { end = "yes" }
END { printf "%d PASS, %d ALL TESTS PASSED, %d FAIL, end %s\n", pass, all, fail, end ? end : "no" }
