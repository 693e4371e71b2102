#!/bin/busybox sh
# /init of the boot test's dom0 initramfs (assembled by ci/xen/boot-test.sh).
#
# Starts the Xen toolstack daemons, runs the checks, prints one line per check:
#   XDBT-CHECK <name> PASS|FAIL [detail]
# then "XDBT-BOOT-DONE" and reboots; QEMU runs with -no-reboot, so it exits.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/usr/lib/xen-4.17/bin:/sbin:/bin:/usr/sbin:/usr/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /var/lib/xen /var/lib/xenstored /var/log/xen/console /tmp /var/lock
ln -s /run /var/run

check() { # name PASS|FAIL [detail...]
    name=$1
    verdict=$2
    shift 2
    echo "XDBT-CHECK $name $verdict${*:+ $*}"
}
# Run a command quietly; show its output only if it fails.
quiet() {
    if "$@" >/tmp/cmd.out 2>&1; then
        return 0
    fi
    echo "dom0: '$*' failed:"
    cat /tmp/cmd.out
    return 1
}
finish() {
    echo "XDBT-BOOT-DONE"
    sync
    reboot -f
    sleep 60
}

echo "dom0: /init started, kernel $(uname -r)"

if [ "$(cat /sys/hypervisor/type 2>/dev/null)" = xen ]; then
    check xen-booted PASS "dom0 $(uname -r) on Xen $(cat /sys/hypervisor/version/major).$(cat /sys/hypervisor/version/minor)$(cat /sys/hypervisor/version/extra)"
else
    check xen-booted FAIL "no /sys/hypervisor/type = xen"
    finish
fi

# Kernel modules for the toolstack, in dependency order (xenfs needs xen-privcmd).
for m in @MODULES@; do
    quiet insmod "/lib/modules/$m.ko" || echo "dom0: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen

ok=1
quiet xenstored --pid-file=/run/xenstored.pid || ok=0
# Wait for the daemon's socket.
i=0
while [ ! -S /run/xenstored/socket ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
quiet xen-init-dom0 || ok=0
quiet xenconsoled --log=guest --log-dir=/var/log/xen/console || ok=0
if [ $ok = 1 ]; then
    check toolstack PASS "xenstored, xen-init-dom0, xenconsoled"
else
    check toolstack FAIL
fi

# xdbt linked: xdbt_xen_init's printk in Xen's console ring.
line=$(xl dmesg 2>/dev/null | grep "xdbt: translator core" | head -n 1)
case "$line" in
*"xdbt: translator core"*FAILED*) check xdbt-linked FAIL "${line#*) }" ;;
*"xdbt: translator core"*) check xdbt-linked PASS "${line#*) }" ;;
*) check xdbt-linked FAIL "no 'xdbt: translator core' line in xl dmesg" ;;
esac

# xl info, and the capability that xen-patches/0002 adds.
if xl info >/tmp/xl-info 2>&1 && grep -q '^xen_version' /tmp/xl-info; then
    check xl-info PASS "$(grep '^xen_version' /tmp/xl-info | tr -s ' ')"
else
    check xl-info FAIL "$(head -n 3 /tmp/xl-info)"
fi
# The boot command line has "pv32-translate" (xen-patches/0009): Xen knows the option (it
# changes nothing here, where every 32-bit PV domain is translated anyway).
if grep -q '^xen_commandline.*pv32-translate' /tmp/xl-info &&
    ! xl dmesg | grep -q 'parameter "pv32-translate" unknown'; then
    check pv32-translate-option PASS "$(grep '^xen_commandline' /tmp/xl-info | tr -s ' ')"
else
    check pv32-translate-option FAIL "$(grep '^xen_commandline' /tmp/xl-info) $(xl dmesg | grep -m1 'pv32-translate')"
fi
caps=$(grep '^xen_caps' /tmp/xl-info | sed 's/^xen_caps *: *//')
echo "dom0: xen_caps: $caps"
case " $caps " in
*" xen-3.0-x86_32p "*) check xen-caps-x86_32p PASS "$caps" ;;
*) check xen-caps-x86_32p FAIL "$caps" ;;
esac

# Wait up to $2 seconds for domain $1 to be gone.
wait_gone() {
    i=0
    while xl domid "$1" >/dev/null 2>&1; do
        [ $i -ge $(($2 * 10)) ] && return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 0
}
# The state column of `xl list` for domain $1 (r, b, p, ... flags).
state() {
    xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }'
}
console_log=/var/log/xen/console/guest-pv64-hello.log
guest_ok() {
    grep -q "pv64-hello: ok" "$console_log" 2>/dev/null
}

# A native 64-bit PV guest: prints, waits for xenconsoled, powers off.
t0=$(cut -d' ' -f1 /proc/uptime)
if quiet xl create /guests/pv64-hello.cfg && wait_gone pv64-hello 60 && guest_ok; then
    t1=$(cut -d' ' -f1 /proc/uptime)
    check native-pv64-guest PASS "console: '$(grep -m1 pv64-hello "$console_log" | tr -d '\r')'," \
        "create to poweroff $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
else
    check native-pv64-guest FAIL "console log: '$(cat "$console_log" 2>/dev/null | tr -d '\r')'"
    xl list
    xl dmesg | tail -n 20
    xenstore-ls -f /local/domain | grep -v '^/local/domain/0/' | head -n 40
    xl destroy pv64-hello >/dev/null 2>&1
fi

# The same guest held alive ("hold"), created paused: list, unpause, pause, unpause,
# destroy.
rm -f "$console_log"
if quiet xl create -p /guests/pv64-hello.cfg 'extra="hold"' && xl list pv64-hello >/dev/null 2>&1; then
    check xl-list PASS "$(xl list pv64-hello | awk 'NR == 2 { print $1, "id", $2, "mem", $3, "state", $5 }')"
else
    check xl-list FAIL "$(xl list 2>&1 | tail -n +2)"
fi
if quiet xl unpause pv64-hello; then
    i=0
    until guest_ok || [ $i -ge 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if guest_ok; then
        check xl-unpause PASS "guest ran: '$(grep -m1 pv64-hello "$console_log" | tr -d '\r')'"
    else
        check xl-unpause FAIL "no console output after unpause"
    fi
else
    check xl-unpause FAIL
fi
if quiet xl pause pv64-hello && case "$(state pv64-hello)" in *p*) true ;; *) false ;; esac; then
    check xl-pause PASS "state $(state pv64-hello)"
    if quiet xl unpause pv64-hello && case "$(state pv64-hello)" in *p*) false ;; *) true ;; esac; then
        check xl-unpause-again PASS "state $(state pv64-hello)"
    else
        check xl-unpause-again FAIL "state $(state pv64-hello)"
    fi
else
    check xl-pause FAIL "state $(state pv64-hello)"
fi
if quiet xl destroy pv64-hello && wait_gone pv64-hello 30; then
    check xl-destroy PASS
else
    check xl-destroy FAIL "$(xl list 2>&1 | tail -n +2)"
fi

# The native 64-bit PV guest again, held alive ("hold"): it runs beside every translated
# domain below, and is checked and destroyed after them.
rm -f "$console_log"
quiet xl create /guests/pv64-hello.cfg 'extra="hold"'
i=0
until guest_ok || [ $i -ge 300 ]; do
    sleep 0.1
    i=$((i + 1))
done

# A 32-bit PV guest (tests/guests/hello.c): Xen builds it as a translated domain, and its
# vCPU runs the guest's code translated, in Xen: the guest prints through
# HYPERVISOR_console_io (lines in xl dmesg with the domain's prefix, "(dN) ...") and powers
# off; xl then destroys the domain (on_poweroff = "destroy"). Created paused: it runs to
# its end in a fraction of a second once unpaused.
if xl create -p /guests/hello.cfg >/tmp/pv32.out 2>&1; then
    check pv32-create PASS "xl create of a 32-bit PV kernel ($(xl dmesg | grep -c 'run by translation') translated domain so far)"
else
    check pv32-create FAIL "$(grep -m1 -i 'error' /tmp/pv32.out)"
    sed 's/^/dom0: xl: /' /tmp/pv32.out
fi
domid=$(xl domid hello 2>/dev/null)
if [ -n "$domid" ]; then
    check pv32-xl-list PASS "$(xl list hello | awk 'NR == 2 { print $1, "id", $2, "mem", $3, "state", $5 }')"
else
    check pv32-xl-list FAIL "$(xl list 2>&1 | tail -n +2)"
fi
[ -n "$domid" ] && xl unpause hello
# Until the domain is gone (powered off and destroyed) or crashed, within 60 s.
i=0
while [ -n "$domid" ] && [ $i -lt 600 ]; do
    xl domid hello >/dev/null 2>&1 || break
    case "$(state hello)" in *c*) break ;; esac
    sleep 0.1
    i=$((i + 1))
done
xl dmesg >/tmp/dmesg 2>&1
line=$(grep -m1 "xdbt: d${domid:-X}v0: translated" /tmp/dmesg 2>/dev/null)
if [ -n "$domid" ] && [ -n "$line" ]; then
    check pv32-translated PASS "${line#*) }"
else
    check pv32-translated FAIL "no 'xdbt: d${domid}v0: translated' line in xl dmesg"
fi
verdict=$(grep -m1 "(d${domid:-X}) XDBT-GUEST hello:" /tmp/dmesg 2>/dev/null | sed 's/^(XEN) //')
echo "XDBT-VERDICT hello $(echo "${verdict:-none}" | sed 's/^([^)]*) //')"
case "$verdict" in
*"XDBT-GUEST hello: PASS"*) check pv32-hello-verdict PASS "xl dmesg: '$verdict'" ;;
*)
    check pv32-hello-verdict FAIL "xl dmesg: '${verdict:-no XDBT-GUEST hello line}'"
    grep "xdbt\|(d${domid:-X})" /tmp/dmesg | tail -n 20
    ;;
esac
shut=$(grep -m1 "xdbt: d${domid:-X}v0: SCHEDOP_shutdown reason 0" /tmp/dmesg 2>/dev/null | sed 's/^(XEN) //')
if [ -n "$domid" ] && [ -n "$shut" ] && ! xl domid hello >/dev/null 2>&1; then
    check pv32-poweroff PASS "'$shut'; destroyed by xl (on_poweroff)"
else
    check pv32-poweroff FAIL "xl list state '$(state hello)', xl dmesg: '$shut'"
    xl destroy hello >/dev/null 2>&1
fi

# More of our PV32 test guests as translated domains (tests/guests/*.c; each prints
# `XDBT-GUEST <name>: PASS|FAIL ...` and powers off, under `xdbt run` as here):
# - traps: every exception a ring-1 kernel takes, bounced to its trap-table handler
#   (xdbt::pv::traps::bounce, from the vCPU in Xen), handlers returning with HYPERVISOR_iret;
# - console: ~4.7 KiB through the PV console ring to xenconsoled (the M2P in the guest
#   window gives the ring's pfn; EVTCHNOP_send to Xen's event channels); its verdict is in
#   xenconsoled's log, the others' in xl dmesg (HYPERVISOR_console_io);
# - xenstore: the real xenstored and libxl's tree, through the store ring: reads, writes,
#   EACCES outside its home, a watch, and an entry dom0 wrote before unpausing it.
# Created paused (each runs to its end at once), for the domain ID. Each verdict is also
# printed as `XDBT-VERDICT <name> <line>` for boot-test.sh, which compares them with
# `xdbt run`'s.
# pv32_verdict NAME: the guest's XDBT-GUEST line, from xl dmesg or its console log.
pv32_verdict() {
    local v
    v=$(grep -m1 "(d${domid:-X}) XDBT-GUEST $1:" /tmp/dmesg 2>/dev/null | sed 's/^(XEN) ([^)]*) //')
    [ -n "$v" ] || v=$(grep -m1 "XDBT-GUEST $1:" "/var/log/xen/console/guest-$1.log" 2>/dev/null | tr -d '\r')
    echo "$v"
}
# run_pv32 NAME [HOOK]: create NAME paused, run HOOK, unpause, wait up to 60 s until it is
# gone or crashed; leaves xl dmesg in /tmp/dmesg and the domain ID in $domid.
run_pv32() {
    domid=
    if quiet xl create -p "/guests/$1.cfg"; then
        domid=$(xl domid "$1" 2>/dev/null)
    fi
    [ -n "$domid" ] && [ -n "${2:-}" ] && eval "$2"
    [ -n "$domid" ] && xl unpause "$1"
    i=0
    while [ -n "$domid" ] && [ $i -lt 300 ]; do
        xl domid "$1" >/dev/null 2>&1 || break
        case "$(state "$1")" in *c*) break ;; esac
        sleep 0.1
        i=$((i + 1))
    done
    xl dmesg >/tmp/dmesg 2>&1
}
for g in $(cat /guests/verdict-guests); do
    hook=
    [ "$g" = xenstore ] && hook='xenstore-write "/local/domain/$domid/data/host-flag" from-host'
    run_pv32 "$g" "$hook"
    verdict=$(pv32_verdict "$g")
    echo "XDBT-VERDICT $g ${verdict:-none}"
    where="xl dmesg"
    [ "$g" = console ] && where="xenconsoled log ($(grep -c 'console ring line' /var/log/xen/console/guest-console.log 2>/dev/null) ring lines)"
    case "$verdict" in
    "XDBT-GUEST $g: PASS"*) check "pv32-$g-verdict" PASS "$where: '$verdict'" ;;
    *)
        check "pv32-$g-verdict" FAIL "$where: '${verdict:-no XDBT-GUEST $g line}'"
        grep "xdbt\|(d${domid:-X})" /tmp/dmesg | tail -n 20
        ;;
    esac
    xl domid "$g" >/dev/null 2>&1 && xl destroy "$g" >/dev/null 2>&1
done

# Debian's GRUB 2 for i386-xen as a translated domain: our image of GRUB's functional tests
# (ci/build-grub-images.sh: 13 tests one by one, then all together, then halt), the same
# image tests/grub.rs runs under `xdbt run`. Its console is the PV console ring, drained by
# xenconsoled into its log; its summary (ci/xen/grub-summary.awk) is the verdict compared
# with xdbt run's.
# `xl console` is attached before the domain is unpaused, and must see the same output.
run_pv32 grub-functest 'xl console grub-functest </dev/null >/tmp/grub-xl-console.log 2>&1 & xlcons=$!'
sleep 1
kill "${xlcons:-}" 2>/dev/null
glog=/var/log/xen/console/guest-grub-functest.log
summary=$(awk -f /guests/grub-summary.awk "$glog" 2>/dev/null)
echo "XDBT-VERDICT grub-functest $summary"
gone=no
xl domid grub-functest >/dev/null 2>&1 || gone=yes
case "$summary" in
"26 PASS, 14 ALL TESTS PASSED, 0 FAIL, end yes")
    if [ $gone = yes ]; then
        check pv32-grub-functest PASS "xenconsoled log: $summary; $(grep -m1 "xdbt: d${domid:-X}v0: SCHEDOP_shutdown" /tmp/dmesg | sed 's/^(XEN) //')"
    else
        check pv32-grub-functest FAIL "$summary, but the domain did not halt (state '$(state grub-functest)')"
    fi
    ;;
*)
    check pv32-grub-functest FAIL "xenconsoled log: ${summary:-none}"
    tail -n 20 "$glog" 2>/dev/null | sed 's/^/grub console: /'
    grep "xdbt: d${domid:-X}\|(d${domid:-X})" /tmp/dmesg | tail -n 20
    ;;
esac
xl destroy grub-functest >/dev/null 2>&1
xlsummary=$(awk -f /guests/grub-summary.awk /tmp/grub-xl-console.log 2>/dev/null)
if [ "$xlsummary" = "$summary" ] && [ -n "$summary" ]; then
    check xl-console PASS "xl console of the GRUB domain: $xlsummary"
else
    check xl-console FAIL "xl console: '${xlsummary:-none}' vs xenconsoled log: '${summary:-none}'"
    tail -n 5 /tmp/grub-xl-console.log 2>/dev/null
fi

# Lifecycle of a running translated domain: tests/guests/shutdown.c watches
# control/shutdown in xenstore and idles until it says poweroff. xl list, pause, unpause,
# then xl shutdown (libxl writes control/shutdown = poweroff): the guest acknowledges,
# prints its verdict and powers off, and the domain is gone.
domid=
if quiet xl create /guests/shutdown.cfg; then
    domid=$(xl domid shutdown 2>/dev/null)
fi
i=0
until [ -z "$domid" ] || grep -q "(d$domid) shutdown: waiting" /tmp/dmesg 2>/dev/null || [ $i -ge 300 ]; do
    sleep 0.1
    xl dmesg >/tmp/dmesg 2>&1
    i=$((i + 1))
done
if [ -n "$domid" ] && grep -q "(d$domid) shutdown: waiting" /tmp/dmesg; then
    check pv32-xl-list-running PASS "$(xl list shutdown | awk 'NR == 2 { print $1, "id", $2, "mem", $3, "state", $5 }'), waiting for control/shutdown"
else
    check pv32-xl-list-running FAIL "$(xl list 2>&1 | tail -n +2)"
fi
if quiet xl pause shutdown && case "$(state shutdown)" in *p*) true ;; *) false ;; esac; then
    check pv32-xl-pause PASS "state $(state shutdown)"
else
    check pv32-xl-pause FAIL "state '$(state shutdown)'"
fi
if quiet xl unpause shutdown && case "$(state shutdown)" in *p*|*c*|"") false ;; *) true ;; esac; then
    check pv32-xl-unpause PASS "state $(state shutdown)"
else
    check pv32-xl-unpause FAIL "state '$(state shutdown)'"
fi
if quiet xl shutdown shutdown && wait_gone shutdown 60; then
    xl dmesg >/tmp/dmesg 2>&1
    verdict=$(pv32_verdict shutdown)
    echo "XDBT-VERDICT shutdown ${verdict:-none}"
    case "$verdict" in
    "XDBT-GUEST shutdown: PASS"*) check pv32-xl-shutdown PASS "'$(grep -m1 "(d$domid) shutdown: poweroff" /tmp/dmesg | sed 's/^(XEN) ([^)]*) //')', '$verdict', domain gone" ;;
    *) check pv32-xl-shutdown FAIL "domain gone but xl dmesg: '${verdict:-no verdict}'" ;;
    esac
else
    check pv32-xl-shutdown FAIL "state '$(state shutdown)'"
    xl dmesg | grep "xdbt\|(d${domid:-X})" | tail -n 20
    xl destroy shutdown >/dev/null 2>&1
fi
# xl destroy of a running translated domain.
domid=
if quiet xl create /guests/shutdown.cfg; then
    domid=$(xl domid shutdown 2>/dev/null)
fi
sleep 1
if [ -n "$domid" ] && quiet xl destroy shutdown && wait_gone shutdown 30; then
    check pv32-xl-destroy-running PASS "d$domid destroyed while running"
else
    check pv32-xl-destroy-running FAIL "$(xl list 2>&1 | tail -n +2)"
fi

# The native PV64 guest ran through all that, beside the translated domains.
if guest_ok && xl domid pv64-hello >/dev/null 2>&1 &&
    case "$(state pv64-hello)" in *c*|"") false ;; *) true ;; esac; then
    check native-pv64-beside-pv32 PASS "'$(grep -m1 pv64-hello "$console_log" | tr -d '\r')', state $(state pv64-hello) after the translated domains"
else
    check native-pv64-beside-pv32 FAIL "state '$(state pv64-hello)', console log: '$(cat "$console_log" 2>/dev/null | tr -d '\r')'"
fi
xl destroy pv64-hello >/dev/null 2>&1
wait_gone pv64-hello 30

# A translated guest that crashes on purpose (ci/xen/guests/pv32-crash: an unhandled page
# fault). on_crash = "preserve" keeps the crashed domain in `xl list` for the checks.
domid=
if quiet xl create /guests/pv32-crash.cfg; then
    domid=$(xl domid pv32-crash 2>/dev/null)
fi
i=0
while [ -n "$domid" ] && [ $i -lt 600 ]; do
    case "$(state pv32-crash)" in *c*) break ;; esac
    sleep 0.1
    i=$((i + 1))
done
xl dmesg >/tmp/dmesg 2>&1
crashed=$(grep -m1 "Domain ${domid:-X} (vcpu#0) crashed" /tmp/dmesg 2>/dev/null | sed 's/^(XEN) //')
fault=$(grep -m1 "xdbt: d${domid:-X}v0: guest fault" /tmp/dmesg 2>/dev/null | sed 's/^(XEN) //')
if [ -n "$domid" ] && [ -n "$crashed" ] && case "$(state pv32-crash)" in *c*) true ;; *) false ;; esac; then
    check pv32-crashed PASS "xl list state $(state pv32-crash); xl dmesg: '$fault' '$crashed'"
else
    check pv32-crashed FAIL "xl list state '$(state pv32-crash)', xl dmesg: '$crashed'"
    grep "xdbt\|(d${domid:-X})" /tmp/dmesg | tail -n 20
fi
# Debug key 'X': the translator's statistics of the (preserved) translated domain.
xl debug-keys X >/dev/null 2>&1
i=0
stats=
while [ -n "$domid" ] && [ -z "$stats" ] && [ $i -lt 50 ]; do
    sleep 0.1
    stats=$(xl dmesg | grep -m1 "xdbt: d${domid}: runs")
    i=$((i + 1))
done
if [ -n "$stats" ]; then
    check xdbt-debug-key PASS "${stats#*) }"
    xl dmesg | grep "xdbt: d${domid} exits" | tail -n 1
else
    check xdbt-debug-key FAIL "no 'xdbt: d${domid}: runs' line after 'xl debug-keys X'"
fi
if [ -n "$domid" ] && quiet xl destroy pv32-crash && wait_gone pv32-crash 30; then
    check pv32-destroy PASS
else
    check pv32-destroy FAIL "$(xl list 2>&1 | tail -n +2)"
    xl destroy pv32-crash >/dev/null 2>&1
fi

# A malformed 32-bit PV image: xl create fails with libxc's error; Xen and dom0 stay up.
if xl create /guests/hello-bad.cfg >/tmp/bad.out 2>&1; then
    check pv32-malformed FAIL "xl create succeeded"
    xl destroy hello-bad >/dev/null 2>&1
else
    err=$(grep -m1 "^xc: error" /tmp/bad.out)
    if [ -n "$err" ] && xl info >/dev/null 2>&1 && ! xl domid hello-bad >/dev/null 2>&1; then
        check pv32-malformed PASS "$err; Xen up, no domain left"
    else
        check pv32-malformed FAIL "$(head -n 3 /tmp/bad.out)"
    fi
fi

# The native 64-bit PV guest still runs after all that.
rm -f "$console_log"
if quiet xl create /guests/pv64-hello.cfg && wait_gone pv64-hello 60 && guest_ok; then
    check native-pv64-after-pv32 PASS "console: '$(grep -m1 pv64-hello "$console_log" | tr -d '\r')'"
else
    check native-pv64-after-pv32 FAIL "console log: '$(cat "$console_log" 2>/dev/null | tr -d '\r')'"
    xl destroy pv64-hello >/dev/null 2>&1
fi

finish
