#![cfg(feature = "root-tests")]
//! The live view under a real terminal: tmux runs a shell, the shell runs
//! `reverse-tr two-way udp live` in the lab's client namespace against the
//! lab's server; the test reads the screen (`tmux capture-pane`), sends
//! `q`, and checks that the client exited 0 and left the terminal as it
//! found it: the normal screen back, the cursor shown, canonical mode and
//! echo on. On the way, the screen (with its colours) is drawn to a PNG by
//! headless Chromium: the README's screenshot (set
//! `REVERSE_TR_LIVE_SCREENSHOT=$PWD/docs/live.png` at the workspace's root
//! to keep it: tests run in the crate's folder). Needs root (network
//! namespaces, raw sockets, eBPF), tmux and chromium.

#[allow(
    dead_code,
    reason = "the shared helpers include the trace-report parser, unused here"
)]
mod support;

use std::{
    fmt::Write as _,
    net::IpAddr,
    process::{Command, Output},
    thread::sleep,
    time::{Duration, Instant},
};

use reverse_tr_client::headless_chromium;
use reverse_tr_lab::{Conditions, Direction, Family, Hops, Host, Lab, LabConfig};
use support::start_server;

/// The terminal: wide enough for the tables side by side.
const COLUMNS: u16 = 160;
const ROWS: u16 = 15;

/// Cycles shown before the screen is read (the first clean, the rest with
/// loss on the way back, for the screenshot to show it).
const CYCLES: u64 = 12;

/// A tmux server of our own (its own socket), with one session running a
/// plain shell in a `COLUMNS`×`ROWS` window; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Self {
        let tmux = Tmux {
            socket: format!("reverse-tr-test-{}", std::process::id()),
        };
        // No user configuration; dash, which leaves the terminal in
        // canonical mode while it reads (no line editor).
        let started = tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "live",
            "-x",
            &COLUMNS.to_string(),
            "-y",
            &ROWS.to_string(),
            "env PS1='$ ' sh",
        ]);
        assert!(started.status.success(), "{started:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs (scripts/setup installs it)")
    }

    /// Types `text` and presses Enter.
    fn type_line(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "live", "-l", text])
                .status
                .success()
        );
        self.keys("Enter");
    }

    /// Presses `key` (tmux's key names).
    fn keys(&self, key: &str) {
        assert!(self.run(&["send-keys", "-t", "live", key]).status.success());
    }

    /// The visible screen, as text or (`escapes`) with its SGR sequences.
    fn screen(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "live"];
        if escapes {
            args.push("-e");
        }
        let output = self.run(&args);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A value of the pane (`#{alternate_on}`, `#{cursor_flag}`, …).
    fn pane(&self, format: &str) -> String {
        let output = self.run(&["display-message", "-p", "-t", "live", format]);
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Waits until the screen passes `check`, and returns it.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let screen = self.screen(false);
            if check(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what} on screen:\n{screen}");
            sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Gone already is fine.
        let _ = self.run(&["kill-server"]);
    }
}

/// The hops a panel's rows show (`│  1 10.0.0.1 …`, a further vertex of
/// the hop on the next row without its TTL): TTL → addresses.
fn panel_hops(panel: &[String]) -> Hops {
    let mut hops = Hops::new();
    let mut ttl = None;
    for row in panel {
        let Some(row) = row.strip_prefix('│') else {
            continue;
        };
        let words: Vec<&str> = row.split_whitespace().collect();
        let address = match words.as_slice() {
            [number, address, ..] if let Ok(number) = number.parse::<u8>() => {
                ttl = Some(number);
                address
            }
            [address, ..] => address,
            [] => continue,
        };
        if let (Some(ttl), Ok(address)) = (ttl, address.parse::<IpAddr>()) {
            hops.entry(ttl).or_default().insert(address);
        }
    }
    hops
}

/// The cycle the view's title line shows (`… cycle 12  00:00:11`).
fn cycle(screen: &str) -> Option<u64> {
    let (_, rest) = screen.lines().next()?.split_once(" cycle ")?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn the_live_view_runs_in_a_real_terminal_and_restores_it() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _server = start_server(&lab);
    let family = Family::V4;
    let target = lab.addr(Host::Server, family).to_string();
    let tmux = Tmux::start();
    tmux.wait_for("shell prompt", |screen| screen.contains('$'));
    tmux.type_line(&format!(
        "ip netns exec {} {} -n -l warning two-way udp live {target}; echo \"exit status $?\"",
        lab.netns(Host::Client),
        env!("CARGO_BIN_EXE_reverse-tr"),
    ));
    tmux.wait_for("first cycle", |screen| {
        cycle(screen).is_some_and(|n| n >= 1)
    });
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "1",
        "the view is on the alternate screen"
    );
    lab.set_conditions(&Conditions::default().reverse_loss(Host::R3, 25))
        .expect("loss on the way back at r3");
    let screen = tmux.wait_for("later cycles", |screen| {
        cycle(screen).is_some_and(|n| n >= CYCLES)
    });

    // Both tables, side by side, every true hop of each direction in its own.
    let header = screen.lines().next().expect("a title line");
    assert!(
        header.contains(&format!("live two-way udp {target}")),
        "{screen}"
    );
    let panels = screen
        .lines()
        .find(|line| line.contains("FORWARD to") && line.contains("REVERSE to"))
        .unwrap_or_else(|| panic!("the tables side by side:\n{screen}"));
    let split = panels[..panels.find("┌ REVERSE to").expect("the reverse panel")]
        .chars()
        .count();
    assert_eq!(
        screen.lines().filter(|line| line.contains("Loss%")).count(),
        1,
        "one line holds both tables' headers:\n{screen}"
    );
    for direction in Direction::ALL {
        let panel: Vec<String> = screen
            .lines()
            .map(|line| {
                let chars = line.chars();
                match direction {
                    Direction::Forward => chars.take(split).collect(),
                    Direction::Reverse => chars.skip(split).collect(),
                }
            })
            .collect();
        let shown = panel_hops(&panel);
        let expected = lab.expected_hops(direction, family);
        assert_eq!(
            shown.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{direction:?}:\n{screen}"
        );
        for (ttl, addresses) in &shown {
            assert!(
                addresses.is_subset(&expected[ttl]),
                "{direction:?} TTL {ttl}: {addresses:?}\n{screen}"
            );
        }
    }
    assert!(screen.contains("q quit"), "{screen}");

    // The screen with its colours, drawn by a browser.
    let coloured = tmux.screen(true);
    assert!(coloured.contains("\x1b["), "colours in the capture");
    screenshot(&coloured);

    tmux.keys("q");
    // The echo's output, not the command line that holds it.
    let status = |screen: &str| {
        screen.lines().find_map(|line| {
            line.strip_prefix("exit status ")?
                .trim()
                .parse::<i32>()
                .ok()
        })
    };
    let screen = tmux.wait_for("exit status", |screen| status(screen).is_some());
    assert_eq!(status(&screen), Some(0), "{screen}");
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "the normal screen is back"
    );
    assert_eq!(tmux.pane("#{cursor_flag}"), "1", "the cursor is shown");
    // The final tables stay on the normal screen, as the report prints them.
    assert!(screen.contains("REVERSE to"), "{screen}");
    tmux.type_line("clear; stty -a");
    let screen = tmux.wait_for("stty's settings", |screen| screen.contains("icanon"));
    let settings: Vec<&str> = screen.split_whitespace().collect();
    for setting in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(settings.contains(&setting), "{setting} restored:\n{screen}");
    }
}

/// Draws the captured screen (text with SGR sequences) as HTML and shoots
/// it with headless Chromium; the PNG goes to `REVERSE_TR_LIVE_SCREENSHOT`
/// too when that is set.
fn screenshot(coloured: &str) {
    let directory =
        std::env::temp_dir().join(format!("reverse-tr-live-terminal-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let page = directory.join("screen.html");
    std::fs::write(&page, terminal_page(coloured)).expect("the page is written");
    let png = directory.join("live.png");
    // DejaVu Sans Mono at 14 px: 8.43 px a column, 16 px a row (box lines
    // join), 12 px padding.
    let width = (f64::from(COLUMNS) * 8.43).ceil() as u32 + 24;
    let height = u32::from(ROWS) * 16 + 24;
    let shot = headless_chromium(
        &directory.join("profile"),
        &format!("file://{}", page.display()),
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={width},{height}"),
            "--hide-scrollbars",
        ],
    )
    .expect("chromium runs (scripts/setup installs it)");
    assert!(shot.status.success(), "{shot:?}");
    let image = std::fs::read(&png).expect("a screenshot");
    assert!(image.starts_with(b"\x89PNG"), "a PNG");
    // A blank page of that size compresses to a few kB; the tables do not.
    assert!(image.len() > 20_000, "{} octets", image.len());
    if let Some(keep) = std::env::var_os("REVERSE_TR_LIVE_SCREENSHOT") {
        std::fs::copy(&png, &keep).expect("the screenshot is kept");
    }
    std::fs::remove_dir_all(&directory).expect("the temporary directory is removed");
}

/// A page showing `screen` (tmux's `capture-pane -e`: text and SGR
/// sequences) as a dark terminal does.
fn terminal_page(screen: &str) -> String {
    let mut body = String::new();
    let mut style = Sgr::default();
    for line in screen.lines() {
        let mut rest = line;
        while !rest.is_empty() {
            let (text, sequence) = match rest.find("\x1b[") {
                Some(at) => (&rest[..at], Some(&rest[at + 2..])),
                None => (rest, None),
            };
            style.write(&mut body, text);
            rest = match sequence {
                Some(sequence) => {
                    let end = sequence
                        .find(|c: char| c.is_ascii_alphabetic())
                        .unwrap_or(sequence.len());
                    if sequence[end..].starts_with('m') {
                        style.apply(&sequence[..end]);
                    }
                    &sequence[(end + 1).min(sequence.len())..]
                }
                None => "",
            };
        }
        body.push('\n');
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>\
         html, body {{ margin: 0; background: {BACKGROUND}; }}\
         pre {{ margin: 0; padding: 12px; color: {FOREGROUND}; \
         font: 14px/16px 'DejaVu Sans Mono', monospace; }}\
         </style></head><body><pre>{body}</pre></body></html>\n"
    )
}

const BACKGROUND: &str = "#1e1e1e";
const FOREGROUND: &str = "#d4d4d4";

/// xterm's 16 colours, as a dark theme draws them.
const PALETTE: [&str; 16] = [
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
];

/// The graphic rendition in force.
#[derive(Debug, Default, Clone, PartialEq)]
struct Sgr {
    foreground: Option<String>,
    background: Option<String>,
    bold: bool,
    dim: bool,
    reverse: bool,
    underline: bool,
}

impl Sgr {
    /// Applies the parameters of one `ESC [ … m`.
    fn apply(&mut self, parameters: &str) {
        let numbers: Vec<u16> = parameters
            .split(';')
            .map(|number| number.parse().unwrap_or(0))
            .collect();
        let mut numbers = numbers.iter().copied();
        while let Some(number) = numbers.next() {
            match number {
                0 => *self = Sgr::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                4 => self.underline = true,
                7 => self.reverse = true,
                22 => (self.bold, self.dim) = (false, false),
                24 => self.underline = false,
                27 => self.reverse = false,
                30..=37 => self.foreground = Some(PALETTE[usize::from(number - 30)].into()),
                90..=97 => self.foreground = Some(PALETTE[usize::from(number - 82)].into()),
                40..=47 => self.background = Some(PALETTE[usize::from(number - 40)].into()),
                100..=107 => self.background = Some(PALETTE[usize::from(number - 92)].into()),
                39 => self.foreground = None,
                49 => self.background = None,
                38 | 48 => {
                    let colour = match numbers.next() {
                        Some(5) => numbers.next().map(indexed),
                        Some(2) => {
                            let mut channel = || numbers.next().unwrap_or(0).min(255);
                            Some(format!(
                                "#{:02x}{:02x}{:02x}",
                                channel(),
                                channel(),
                                channel()
                            ))
                        }
                        _ => None,
                    };
                    if number == 38 {
                        self.foreground = colour;
                    } else {
                        self.background = colour;
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes `text` in this rendition, HTML-escaped.
    fn write(&self, html: &mut String, text: &str) {
        if text.is_empty() {
            return;
        }
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        if *self == Sgr::default() {
            html.push_str(&escaped);
            return;
        }
        let (mut foreground, mut background) = (
            self.foreground.as_deref().unwrap_or(FOREGROUND),
            self.background.as_deref().unwrap_or(BACKGROUND),
        );
        if self.reverse {
            (foreground, background) = (background, foreground);
        }
        let mut style = format!("color:{foreground};background:{background}");
        if self.bold {
            style.push_str(";font-weight:bold");
        }
        if self.dim {
            style.push_str(";opacity:0.6");
        }
        if self.underline {
            style.push_str(";text-decoration:underline");
        }
        let _ = write!(html, "<span style=\"{style}\">{escaped}</span>");
    }
}

/// A colour of xterm's 256: the 16, the 6×6×6 cube, the grey ramp.
fn indexed(index: u16) -> String {
    match index {
        0..=15 => PALETTE[usize::from(index)].to_owned(),
        16..=231 => {
            let level = |value: u16| if value == 0 { 0 } else { value * 40 + 55 };
            let cube = index - 16;
            format!(
                "#{:02x}{:02x}{:02x}",
                level(cube / 36),
                level(cube / 6 % 6),
                level(cube % 6)
            )
        }
        _ => {
            let grey = (index.min(255) - 232) * 10 + 8;
            format!("#{grey:02x}{grey:02x}{grey:02x}")
        }
    }
}

#[test]
fn sgr_sequences_become_styled_spans() {
    let page = terminal_page("a \x1b[1;31mlost\x1b[0m <b> \x1b[38;5;46mok\x1b[39m\x1b[7mx\x1b[m\n");
    assert!(
        page.contains(
            "a <span style=\"color:#cd3131;background:#1e1e1e;font-weight:bold\">lost</span>"
        ),
        "{page}"
    );
    assert!(page.contains(" &lt;b&gt; "), "{page}");
    assert!(
        page.contains("<span style=\"color:#00ff00;background:#1e1e1e\">ok</span>"),
        "{page}"
    );
    assert!(
        page.contains("<span style=\"color:#1e1e1e;background:#d4d4d4\">x</span>"),
        "{page}"
    );
    assert_eq!(indexed(232), "#080808");
    assert_eq!(indexed(16), "#000000");
}
