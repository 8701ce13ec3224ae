//! `router check` / `router run` on broken configs: exit status 2 and a
//! message naming the file, the line and the field; nothing starts. No root
//! needed.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use router_tests::config::{BgpSpec, GroupSpec, NeighborSpec, RemoteAs};
use router_tests::{repo_file, router_bin, run_timeout, CmdOutput, Line};

const GOOD: &str = r#"[router]
worker_threads = 2

[[ports]]
name = "eth1"
ifname = "eth1"
addresses = ["192.168.10.200/24"]

[[ports]]
name = "eth2"
ifname = "eth2"
addresses = ["192.168.20.200/24"]

[[routes]]
prefix = "172.20.2.0/24"
via = "192.168.20.100"
"#;

fn router(args: &[&str], file: &Path) -> CmdOutput {
    run_timeout(
        Command::new(router_bin()).args(args).arg(file),
        Duration::from_secs(10),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

fn scratch() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(router_tests::unique_name("rtest", "cfg"));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// `GOOD` with `from` replaced by `to` (must occur); returns the text and the
/// 1-based line of the change.
fn mutate(from: &str, to: &str) -> (String, usize) {
    let at = GOOD
        .find(from)
        .unwrap_or_else(|| panic!("{from} not in GOOD"));
    let line = GOOD[..at].matches('\n').count() + 1;
    (GOOD.replacen(from, to, 1), line)
}

#[test]
fn good_config_passes() {
    let dir = scratch();
    let out = router(&["check"], &write(&dir, "good.toml", GOOD));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.success(), "{out}");
}

/// What the tests' `RouterSpec` writes is a config the router accepts (the
/// spec mirrors the documented file format, not the router's types).
#[test]
fn router_spec_output_passes() {
    let spec = Line::default_spec()
        .via("172.20.5.0/24", "192.168.20.77")
        .blackhole("172.20.8.0/24")
        .bgp(BgpSpec {
            asn: 65000,
            router_id: "192.168.10.200".into(),
            networks: vec!["10.10.1.0/24".into()],
            groups: vec![GroupSpec {
                name: "CILIUM".into(),
                remote_as: Some(RemoteAs::Kind("external".into())),
                ..GroupSpec::default()
            }],
            neighbors: vec![NeighborSpec {
                address: "192.168.10.100".into(),
                group: Some("CILIUM".into()),
                passive: Some(true),
                ..NeighborSpec::default()
            }],
            ..BgpSpec::default()
        });
    let mut spec = spec;
    spec.ports[1].mtu = Some(1400);
    let first = spec.ports[0].name.clone();
    let mut spec = spec.host_interface(&first, "mgmt-host");
    spec.ports[1].host_interface = Some(router_tests::config::HostInterfaceSpec::Default(true));
    let dir = scratch();
    let out = router(&["check"], &write(&dir, "spec.toml", &spec.to_toml()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.success(), "{}\n{out}", spec.to_toml());
}

#[test]
fn shipped_lab_configs_pass() {
    for f in [
        "configs/lab-static.toml",
        "configs/lab-broken.toml",
        "configs/lab-bgp.toml",
        "configs/lab-static-dual.toml",
    ] {
        let out = router(&["check"], &repo_file(f));
        assert!(out.success(), "{f}: {out}");
    }
}

#[test]
fn config_errors_name_file_line_and_field() {
    let dir = scratch();
    let cases: Vec<(&str, (String, usize), &str)> = vec![
        (
            "unknown key",
            mutate("ifname = \"eth2\"", "ifname = \"eth2\"\ncolour = \"blue\""),
            "colour",
        ),
        (
            "bad prefix",
            mutate("\"172.20.2.0/24\"", "\"172.20.2.0/33\""),
            "prefix",
        ),
        (
            "next hop on no connected subnet",
            mutate("\"192.168.20.100\"", "\"192.168.30.1\""),
            "via",
        ),
        (
            "duplicate address",
            mutate("[\"192.168.20.200/24\"]", "[\"192.168.10.200/24\"]"),
            "addresses",
        ),
        (
            "bad interface address",
            mutate("[\"192.168.10.200/24\"]", "[\"192.168.10.300/24\"]"),
            "addresses",
        ),
        (
            "syntax error",
            mutate("worker_threads = 2", "worker_threads = = 2"),
            "",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, (text, line), field)) in cases.into_iter().enumerate() {
        let line = if what == "unknown key" {
            line + 1
        } else {
            line
        };
        let path = write(&dir, &format!("bad{i}.toml"), &text);
        for verb in [
            &["check"][..],
            &["run", "--socket", "/nonexistent/router.sock", "-c"][..],
        ] {
            let out = router(verb, &path);
            let want = format!("{}:{line}:", path.display());
            if out.code != Some(2) || !out.stderr.contains(&want) || !out.stderr.contains(field) {
                failures.push(format!(
                    "{what} ({verb:?}): want exit 2 and `{want}` + `{field}` on stderr; got {out}"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// TCP-MD5 keys: a `password_file` is read relative to the config file and
/// accepted; one that cannot be read, or a password next to a file, is an
/// error at its line that names the file; the password itself never appears.
#[test]
fn bgp_password_file_errors_name_the_file() {
    let dir = scratch();
    let bgp = |extra: &str| {
        format!(
            "{GOOD}\n[bgp]\nasn = 65000\nrouter_id = \"192.168.10.200\"\n\n[[bgp.neighbors]]\naddress = \"192.168.10.100\"\nremote_as = 65001\n{extra}"
        )
    };
    std::fs::write(dir.join("peer.secret"), "s3cret-value\n").expect("write secret");
    let out = router(
        &["check"],
        &write(
            &dir,
            "md5-good.toml",
            &bgp("password_file = \"peer.secret\"\n"),
        ),
    );
    assert!(out.success(), "{out}");
    let line = bgp("").lines().count() + 1;
    for (name, extra, want) in [
        (
            "md5-missing.toml",
            "password_file = \"absent.secret\"\n".to_string(),
            format!("cannot read {}", dir.join("absent.secret").display()),
        ),
        (
            "md5-both.toml",
            "password_file = \"peer.secret\"\npassword = \"s3cret-value\"\n".to_string(),
            "not both".to_string(),
        ),
    ] {
        let path = write(&dir, name, &bgp(&extra));
        let out = router(&["check"], &path);
        let at = format!(
            "{}:{line}:17: field `bgp.neighbors[0].password_file`",
            path.display()
        );
        assert!(
            out.code == Some(2) && out.stderr.contains(&at) && out.stderr.contains(&want),
            "{name}: want `{at}` and `{want}`; got {out}"
        );
        assert!(!out.stderr.contains("s3cret-value"), "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
