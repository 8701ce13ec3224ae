//! The Debian package (scripts/build-deb.sh, which scripts/test-all.sh runs
//! and names in ROUTER_DEB): its contents, its conffile and dependencies,
//! its systemd unit checked by systemd's own `systemd-analyze verify`, and
//! the binary extracted from it running the seed lab.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use router_tests::seed::{webpods, LabConfig};
use router_tests::{in_ci, require, run_timeout, Forwarder, Lab, SeedLab};

fn deb() -> Option<PathBuf> {
    match std::env::var_os("ROUTER_DEB") {
        Some(p) => Some(PathBuf::from(p)),
        None if in_ci() => {
            panic!("CI=true but ROUTER_DEB is not set (scripts/test-all.sh builds the package)")
        }
        None => {
            eprintln!(
                "!!! SKIPPED the package test: set ROUTER_DEB (scripts/build-deb.sh builds it)"
            );
            None
        }
    }
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = run_timeout(
        Command::new("dpkg-deb").args(args).arg(deb),
        Duration::from_secs(60),
    );
    assert!(out.success(), "dpkg-deb {args:?}: {out}");
    out.stdout
}

#[test]
fn the_package_installs_a_checked_unit_and_a_binary_that_runs_the_lab() {
    require!("dpkg-deb", "systemd-analyze", "curl", "python3");
    let Some(deb) = deb() else { return };
    assert!(deb.exists(), "{} missing", deb.display());

    let contents = dpkg_deb(&["-c"], &deb);
    for path in [
        "./usr/bin/router",
        "./etc/router/router.toml",
        "./usr/lib/systemd/system/router.service",
        "./usr/share/man/man1/router.1.gz",
        "./usr/share/man/man1/router-run.1.gz",
        "./usr/share/bash-completion/completions/router",
        "./usr/share/zsh/vendor-completions/_router",
        "./usr/share/fish/vendor_completions.d/router.fish",
    ] {
        assert!(
            contents.lines().any(|l| l.ends_with(path)),
            "the package lacks {path}:\n{contents}"
        );
    }
    let conffiles = dpkg_deb(&["-f"], &deb);
    assert!(conffiles.contains("Depends:"), "{conffiles}");
    assert!(conffiles.contains("libnftnl11"), "{conffiles}");
    let lab = Lab::new("deb");
    let root = lab.dir().join("root");
    let out = run_timeout(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
        Duration::from_secs(60),
    );
    assert!(out.success(), "dpkg-deb -x: {out}");
    let control = lab.dir().join("control");
    let out = run_timeout(
        Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control),
        Duration::from_secs(60),
    );
    assert!(out.success(), "dpkg-deb -e: {out}");
    let conf = std::fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert_eq!(conf.trim(), "/etc/router/router.toml");

    // The unit, as systemd reads it.
    let bin = root.join("usr/bin/router");
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/router.service")).expect("unit");
    for line in [
        "Type=notify",
        "ExecStartPre=/usr/bin/router check /etc/router/router.toml",
        "ExecReload=/usr/bin/router reload",
        "WatchdogSec=",
        "Restart=on-failure",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}:\n{unit}");
    }
    // systemd-analyze verify also checks that the commands exist: point
    // them at the extracted binary (the only change).
    let checked = lab.dir().join("router.service");
    std::fs::write(
        &checked,
        unit.replace("/usr/bin/router", &bin.to_string_lossy()),
    )
    .expect("write unit");
    let out = run_timeout(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&checked),
        Duration::from_secs(60),
    );
    assert!(
        out.success() && out.stderr.trim().is_empty(),
        "systemd-analyze verify: {out}"
    );

    // The packaged config is valid, and the man page documents `run`.
    let out = run_timeout(
        Command::new(&bin)
            .arg("check")
            .arg(root.join("etc/router/router.toml")),
        Duration::from_secs(30),
    );
    assert!(out.success(), "router check on the conffile: {out}");

    // The extracted binary runs the seed lab (static fix): every webpod
    // answers curl-pod. (This test binary has this one test, so setting the
    // variable the harness reads cannot race another test.)
    std::env::set_var("ROUTER_BIN", &bin);
    let l = SeedLab::build(Lab::new("deb-lab"), Forwarder::Router, LabConfig::Static);
    for p in webpods() {
        assert_eq!(l.curl(p.addr).as_deref(), p.hostname, "curl {}", p.addr);
    }
    assert!(l.router().bin == bin, "the lab ran {:?}", l.router().bin);
}
