//! Pass the core crate's version to the glue: `xdbt_xen_init` prints it.

use std::fs;

fn main() {
    let manifest = "../../Cargo.toml";
    println!("cargo:rerun-if-changed={manifest}");
    let text = fs::read_to_string(manifest).expect("the core's Cargo.toml is two levels up");
    let mut in_package = false;
    let mut version = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(v) = line.strip_prefix("version") {
                version = v
                    .trim()
                    .strip_prefix('=')
                    .map(|v| v.trim().trim_matches('"').to_owned());
                break;
            }
        }
    }
    let version = version.expect("[package] version in the core's Cargo.toml");
    println!("cargo:rustc-env=XDBT_CORE_VERSION={version}");
}
