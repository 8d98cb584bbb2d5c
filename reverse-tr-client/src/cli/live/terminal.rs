//! The terminal of the live view: raw mode and the alternate screen, the
//! keys, and redrawing as snapshots come. The terminal is restored however
//! the view ends: a key (q, Esc, Ctrl-C), the end of monitoring (its cycles
//! done, an error, SIGINT), or a panic (the hook `ratatui::try_init` sets).

use std::{
    io,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use ratatui::{
    DefaultTerminal,
    crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers},
};
use tokio::sync::watch;

use crate::{
    output::Names,
    output::live::{ViewOptions, draw},
    trace::live::{Control, Snapshot},
};

/// How often the view looks for keys and a new snapshot.
const REFRESH: Duration = Duration::from_millis(200);

/// Shows the snapshots `receiver` gets until the user quits or `control`
/// is stopped; stops `control` when it ends.
pub(super) fn show(
    receiver: &watch::Receiver<Snapshot>,
    control: &Control,
    names: &Mutex<Names>,
    view: ViewOptions,
) -> io::Result<()> {
    let shown = ratatui::try_init().and_then(|mut terminal| {
        let result = interact(&mut terminal, receiver, control, names, view);
        ratatui::try_restore().and(result)
    });
    control.stop();
    shown
}

fn interact(
    terminal: &mut DefaultTerminal,
    receiver: &watch::Receiver<Snapshot>,
    control: &Control,
    names: &Mutex<Names>,
    mut view: ViewOptions,
) -> io::Result<()> {
    while !control.is_stopped() {
        view.paused = control.is_paused();
        {
            let snapshot = receiver.borrow();
            let names = names.lock().unwrap_or_else(PoisonError::into_inner);
            terminal.draw(|frame| draw(frame, &snapshot, &names, &view))?;
        }
        if !event::poll(REFRESH)? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => break,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => break,
            KeyCode::Char('p') => {
                control.toggle_pause();
            }
            KeyCode::Char('r') => control.reset(),
            KeyCode::Char('d') => view.shown = view.shown.next(),
            KeyCode::Char('n') => view.names = !view.names,
            KeyCode::Char('?' | 'h') => view.help = !view.help,
            _ => {}
        }
    }
    Ok(())
}

/// Keeps `names` up to date with the addresses of the latest snapshot.
pub(super) async fn resolve(mut receiver: watch::Receiver<Snapshot>, names: Arc<Mutex<Names>>) {
    let Some(dns) = crate::cli::dns::ReverseDns::system() else {
        return;
    };
    let mut asked = std::collections::BTreeSet::new();
    while receiver.changed().await.is_ok() {
        let new: Vec<_> = receiver
            .borrow_and_update()
            .addresses()
            .filter(|address| asked.insert(*address))
            .collect();
        if !new.is_empty() {
            let found = dns.names(new, crate::cli::dns::TOTAL_TIMEOUT).await;
            names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(found);
        }
    }
}
