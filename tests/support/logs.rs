//! A `tracing` subscriber that keeps every event it sees, for tests of the crate's log lines:
//! set it as the thread's default with `tracing::subscriber::with_default`, run the code on
//! that thread, then read the events.

use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One event: its level and its fields as `name=value` text (the message as `message`).
#[derive(Debug, Clone)]
pub struct Logged {
    pub level: Level,
    pub fields: Vec<(String, String)>,
}

impl Logged {
    /// The value of a field, as the event wrote it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value.as_str())
    }

    /// Every field's value, one line: what a log line would show.
    pub fn text(&self) -> String {
        self.fields.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join(" ")
    }
}

/// The subscriber; clones share one list.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<Logged>>>);

impl Logs {
    pub fn events(&self) -> Vec<Logged> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Logs {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Logged { level: *event.metadata().level(), fields });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
