//! Command line: `router run`, `router check`, `router show ...`,
//! `router reload`, `router route get ...`, `router monitor drops`, `router ping`.
//!
//! Exit status: 0 success; 1 a runtime or control-socket error; 2 a config
//! error (also clap's usage errors).
//!
//! `router show WORDS...` sends "show WORDS..." to the control socket and
//! renders whatever comes back (table, text or JSON), so commands registered
//! by other modules — `show bgp summary`, `show bgp neighbors ADDR`, `show
//! bgp routes PREFIX` — need nothing here.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::{Map, Value};

use crate::config::{Config, DEFAULT_CONTROL_SOCKET};
use crate::control::{self, Response, Table};

pub mod reload;
pub mod run;

pub const EXIT_OK: u8 = 0;
pub const EXIT_RUNTIME: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;
/// Environment variable naming the control socket for `show`/`ping`.
pub const SOCKET_ENV: &str = "ROUTER_SOCKET";

#[derive(Debug, Parser)]
#[command(
    name = "router",
    version,
    about = "Userspace IPv4 and IPv6 router on AF_PACKET with an embedded BGP speaker"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the router with a config file (until SIGINT/SIGTERM).
    Run {
        /// Config file (TOML).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: PathBuf,
        /// Control socket path (overrides `router.control_socket`).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Print what the host set-up would change on the ports (addresses,
        /// link state, sysctls, the ingress drop) and exit without changing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a config file and exit: 0 if valid, 2 with "FILE:LINE:COL: ..." if not.
    Check {
        /// Config file (TOML).
        file: PathBuf,
    },
    /// Ask a running router: `show interfaces`, `show neighbors`, `show route [ADDR|PREFIX]`,
    /// `show bgp summary`, `show bgp neighbors [ADDR]`, `show bgp routes [PREFIX]`,
    /// `show version`, `show help`...
    Show {
        /// What to show (words of the command).
        #[arg(required = true, value_name = "WHAT")]
        what: Vec<String>,
        /// Print the JSON data instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Make a running router re-read its config file and apply the
    /// difference (also SIGHUP); prints what changed, or why it refused.
    Reload {
        /// Print the JSON report.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Explain what the router does with an IPv4 or IPv6 packet, and why:
    /// `route get ADDR [from SRC] [iif PORT] [proto tcp|udp|icmp] [sport N] [dport N] [ttl|hoplimit N] [len N] [df]`
    /// (`df` is IPv4 only: IPv6 routers never fragment).
    Route {
        /// `get` and its words.
        #[arg(required = true, value_name = "WORDS")]
        what: Vec<String>,
        /// Print the JSON data instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Live streams: `monitor drops` prints one line per dropped packet.
    Monitor {
        /// What to monitor (`drops`).
        #[arg(required = true, value_name = "WHAT")]
        what: Vec<String>,
        /// Only drops counted on this port.
        #[arg(long)]
        port: Option<String>,
        /// Only this drop reason (no_route, ttl_exceeded, martian, ...).
        #[arg(long)]
        reason: Option<String>,
        /// Only packets from or to this address (or prefix).
        #[arg(long)]
        address: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<u64>,
        /// Most events per second each worker records (the rest are counted).
        #[arg(long)]
        rate: Option<u64>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Check that a running router answers on its control socket.
    Ping {
        #[command(flatten)]
        target: Target,
    },
    /// Write the man pages and shell completions (for packaging) into DIR.
    #[command(hide = true)]
    Generate {
        /// Output directory (created if missing).
        dir: PathBuf,
    },
}

/// Which router to talk to.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Control socket path [default: $ROUTER_SOCKET, the config's, or /run/router/router.sock].
    #[arg(short = 's', long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Take the control socket path from this config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

impl Target {
    fn socket(&self) -> Result<PathBuf, u8> {
        if let Some(s) = &self.socket {
            return Ok(s.clone());
        }
        if let Some(c) = &self.config {
            return match Config::load(c) {
                Ok(cfg) => Ok(cfg.router.control_socket),
                Err(e) => {
                    eprintln!("{e}");
                    Err(EXIT_CONFIG)
                }
            };
        }
        if let Some(s) = std::env::var_os(SOCKET_ENV).filter(|s| !s.is_empty()) {
            return Ok(PathBuf::from(s));
        }
        Ok(PathBuf::from(DEFAULT_CONTROL_SOCKET))
    }
}

/// Parses the command line, runs it, returns the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(run(cli))
}

pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Run {
            config,
            socket,
            dry_run: true,
        } => crate::cli::run::dry_run(&config, socket),
        Command::Run {
            config,
            socket,
            dry_run: false,
        } => match crate::cli::run::run(&config, socket) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("{e}");
                e.exit_code()
            }
        },
        Command::Check { file } => check(&file),
        Command::Show { what, json, target } => {
            let command = format!("show {}", what.join(" "));
            ask(&target, &command, json)
        }
        Command::Reload { json, target } => ask(&target, "reload", json),
        Command::Route { what, json, target } => {
            let command = format!("route {}", what.join(" "));
            ask(&target, &command, json)
        }
        Command::Monitor {
            what,
            port,
            reason,
            address,
            count,
            duration,
            rate,
            json,
            target,
        } => {
            let mut args = Map::new();
            for (k, v) in [("port", port), ("reason", reason), ("address", address)] {
                if let Some(v) = v {
                    args.insert(k.into(), Value::String(v));
                }
            }
            for (k, v) in [("count", count), ("duration", duration), ("rate", rate)] {
                if let Some(v) = v {
                    args.insert(k.into(), Value::from(v));
                }
            }
            monitor(&target, &format!("monitor {}", what.join(" ")), args, json)
        }
        Command::Ping { target } => ask(&target, "ping", false),
        Command::Generate { dir } => match generate(&dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                EXIT_OK
            }
            Err(e) => {
                eprintln!("router generate {}: {e}", dir.display());
                EXIT_RUNTIME
            }
        },
    }
}

/// `router generate DIR`: router.1 and router-SUBCOMMAND.1 (clap_mangen),
/// and completions for bash, zsh and fish (clap_complete), all from the
/// clap definitions above, so they cannot drift from the binary.
pub fn generate(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let cmd = Cli::command();
    let mut pages = vec![(String::from("router"), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("router-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        std::fs::write(&path, out)?;
        written.push(path);
    }
    for (shell, file) in [
        (clap_complete::Shell::Bash, "router.bash"),
        (clap_complete::Shell::Zsh, "_router"),
        (clap_complete::Shell::Fish, "router.fish"),
    ] {
        let path = dir.join(file);
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "router", &mut out);
        std::fs::write(&path, out)?;
        written.push(path);
    }
    Ok(written)
}

/// A streaming command: one line per record as it comes, then the summary.
fn monitor(target: &Target, command: &str, args: Map<String, Value>, json: bool) -> u8 {
    let socket = match target.socket() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut stdout = std::io::stdout();
    let result = control::call_stream(
        &socket,
        command,
        args,
        Duration::from_secs(target.timeout.max(1)),
        |ev| {
            let line = if json {
                ev.to_string()
            } else {
                control::drops::format_event(ev)
            };
            // Stop (and end the stream) when stdout goes away (`| head`).
            writeln!(stdout, "{line}")
                .and_then(|_| stdout.flush())
                .is_ok()
        },
    );
    match result {
        Ok(None) => EXIT_OK,
        Ok(Some(end)) if end.ok => {
            let d = end.data.unwrap_or(Value::Null);
            if json {
                let _ = writeln!(stdout, "{}", serde_json::json!({ "summary": d }));
            } else {
                let n = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
                let _ = writeln!(
                    stdout,
                    "-- {} events shown, {} filtered out, {} lost (reader too slow), {} over the rate limit",
                    n("events"),
                    n("filtered_out"),
                    n("lost"),
                    n("rate_limited")
                );
            }
            EXIT_OK
        }
        Ok(Some(end)) => {
            eprintln!(
                "error: {}",
                end.error.as_deref().unwrap_or("request failed")
            );
            EXIT_RUNTIME
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_RUNTIME
        }
    }
}

fn check(file: &Path) -> u8 {
    match Config::load(file) {
        Ok(c) => {
            println!(
                "{}: ok ({} ports, {} loopbacks, {} static routes{}{})",
                file.display(),
                c.ports.len(),
                c.loopbacks.len(),
                c.routes.len() + c.routes6.len(),
                if c.routes6.is_empty() {
                    String::new()
                } else {
                    format!(" ({} IPv6)", c.routes6.len())
                },
                if c.bgp.is_some() { ", bgp" } else { "" }
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_CONFIG
        }
    }
}

fn ask(target: &Target, command: &str, json: bool) -> u8 {
    let socket = match target.socket() {
        Ok(s) => s,
        Err(code) => return code,
    };
    match control::call(
        &socket,
        command,
        Map::new(),
        Duration::from_secs(target.timeout.max(1)),
    ) {
        Ok(resp) if resp.ok => {
            let out = if json {
                render_json(&resp)
            } else {
                render(&resp)
            };
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = stdout.write_all(out.as_bytes());
            EXIT_OK
        }
        Ok(resp) => {
            eprintln!(
                "error: {}",
                resp.error.as_deref().unwrap_or("request failed")
            );
            EXIT_RUNTIME
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_RUNTIME
        }
    }
}

/// `--json`: the data, pretty-printed.
pub fn render_json(r: &Response) -> String {
    let mut s =
        serde_json::to_string_pretty(r.data.as_ref().unwrap_or(&Value::Null)).unwrap_or_default();
    s.push('\n');
    s
}

/// Human output: the table, then the text; with neither, the data.
pub fn render(r: &Response) -> String {
    let mut out = String::new();
    if let Some(t) = &r.table {
        out.push_str(&render_table(t));
    }
    if let Some(text) = &r.text {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    if r.table.is_none() && r.text.is_none() {
        match &r.data {
            Some(Value::String(s)) => {
                out.push_str(s);
                out.push('\n');
            }
            Some(Value::Null) | None => {}
            Some(v) => out.push_str(&render_json(&Response {
                data: Some(v.clone()),
                ..Default::default()
            })),
        }
    }
    out
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// Aligned columns, two spaces apart; numeric columns right-aligned.
pub fn render_table(t: &Table) -> String {
    let ncols = t
        .columns
        .len()
        .max(t.rows.iter().map(Vec::len).max().unwrap_or(0));
    let cell = |row: &[String], i: usize| row.get(i).map(String::as_str).unwrap_or("").to_string();
    let mut widths: Vec<usize> = (0..ncols)
        .map(|i| cell(&t.columns, i).chars().count())
        .collect();
    let mut numeric = vec![true; ncols];
    let mut any = vec![false; ncols];
    for row in &t.rows {
        for i in 0..ncols {
            let c = cell(row, i);
            widths[i] = widths[i].max(c.chars().count());
            if !c.is_empty() && c != "-" {
                any[i] = true;
                numeric[i] &= is_number(&c);
            }
        }
    }
    let right: Vec<bool> = (0..ncols).map(|i| numeric[i] && any[i]).collect();
    let line = |cells: &dyn Fn(usize) -> String| {
        let mut s = String::new();
        for i in 0..ncols {
            let c = cells(i);
            let pad = widths[i].saturating_sub(c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if right[i] {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(&c);
            } else {
                s.push_str(&c);
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let mut s = s.trim_end().to_string();
        s.push('\n');
        s
    };
    let mut out = line(&|i| cell(&t.columns, i));
    if t.rows.is_empty() {
        out.push_str("(none)\n");
    }
    for row in &t.rows {
        out.push_str(&line(&|i| cell(row, i)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(cols: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: cols.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn tables_are_aligned_numbers_right() {
        let t = table(
            &["NAME", "ADDRESSES", "RX-PKTS"],
            &[
                &["eth1", "192.168.10.200/24", "5"],
                &["eth2", "192.168.20.200/24", "12345"],
                &["loop1", "10.10.1.200/24", "-"],
            ],
        );
        assert_eq!(
            render_table(&t),
            "NAME   ADDRESSES          RX-PKTS\n\
             eth1   192.168.10.200/24        5\n\
             eth2   192.168.20.200/24    12345\n\
             loop1  10.10.1.200/24           -\n"
        );
    }

    #[test]
    fn empty_cells_and_empty_tables() {
        let t = table(
            &["PREFIX", "NEXT-HOP"],
            &[&["172.16.1.1/32", "via a"], &["", "via b"]],
        );
        assert_eq!(
            render_table(&t),
            "PREFIX         NEXT-HOP\n172.16.1.1/32  via a\n               via b\n"
        );
        assert_eq!(render_table(&table(&["A", "B"], &[])), "A  B\n(none)\n");
        // Unicode widths count characters.
        let t = table(&["X", "Y"], &[&["é", "1"]]);
        assert_eq!(render_table(&t), "X  Y\né  1\n");
    }

    #[test]
    fn render_prefers_table_then_text_then_data() {
        let r = Response {
            ok: true,
            data: Some(json!("pong")),
            ..Default::default()
        };
        assert_eq!(render(&r), "pong\n");
        let r = Response {
            ok: true,
            data: Some(json!({"a": 1})),
            ..Default::default()
        };
        assert_eq!(render(&r), "{\n  \"a\": 1\n}\n");
        let r = Response {
            ok: true,
            data: Some(json!([1])),
            table: Some(table(&["A"], &[&["1"]])),
            text: Some("note".into()),
            ..Default::default()
        };
        assert_eq!(render(&r), "A\n1\n\nnote\n");
        assert_eq!(render_json(&r), "[\n  1\n]\n");
    }

    #[test]
    fn command_line_parses() {
        let c = Cli::try_parse_from([
            "router",
            "show",
            "bgp",
            "neighbors",
            "192.168.10.100",
            "--json",
            "-s",
            "/tmp/x",
        ])
        .unwrap();
        match c.command {
            Command::Show { what, json, target } => {
                assert_eq!(what, ["bgp", "neighbors", "192.168.10.100"]);
                assert!(json);
                assert_eq!(target.socket().unwrap(), PathBuf::from("/tmp/x"));
            }
            other => panic!("{other:?}"),
        }
        let c =
            Cli::try_parse_from(["router", "run", "-c", "lab.toml", "--socket", "/tmp/s"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Run {
                socket: Some(_),
                ..
            }
        ));
        assert!(Cli::try_parse_from(["router", "show"]).is_err());
        assert!(Cli::try_parse_from(["router", "run"]).is_err());
    }
}
