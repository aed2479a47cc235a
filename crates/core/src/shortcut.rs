//! Keyboard shortcuts as data: which key presses make which command, including the two-key
//! `g` sequences, and never while the person is typing. The app listens for keys and
//! carries out the command; this decides, so every rule is tested natively.

use crate::clock::{DurationMs, Millis};

/// What a shortcut asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    /// `/`: the case search.
    FocusSearch,
    /// `c`: a new case.
    NewCase,
    /// `g d`: the dashboard.
    GoDashboard,
    /// `g c`: the case list.
    GoCases,
    /// `g s`: the Sync page.
    GoSync,
    /// `j`: the next case in the list.
    NextCase,
    /// `k`: the previous case in the list.
    PreviousCase,
    /// `?`: the list of shortcuts.
    ShowHelp,
}

impl Shortcut {
    /// Every shortcut, in the order the help lists them.
    pub const ALL: [Shortcut; 8] = [
        Self::FocusSearch,
        Self::NewCase,
        Self::GoDashboard,
        Self::GoCases,
        Self::GoSync,
        Self::NextCase,
        Self::PreviousCase,
        Self::ShowHelp,
    ];

    /// The keys, as `aria-keyshortcuts` spells them and the help shows them.
    pub fn keys(self) -> &'static str {
        match self {
            Self::FocusSearch => "/",
            Self::NewCase => "c",
            Self::GoDashboard => "g d",
            Self::GoCases => "g c",
            Self::GoSync => "g s",
            Self::NextCase => "j",
            Self::PreviousCase => "k",
            Self::ShowHelp => "?",
        }
    }
}

/// One key press as the browser reports it.
#[derive(Clone, Copy, Debug)]
pub struct KeyPress<'a> {
    /// `KeyboardEvent.key`.
    pub key: &'a str,
    /// Ctrl, Meta or Alt held: the browser's or the system's shortcut, not ours.
    pub with_modifier: bool,
    /// The focus is in a text field, a select or an editable element: the key is typing.
    pub in_field: bool,
    pub at: Millis,
}

/// Reads key presses into shortcuts, remembering a `g` that waits for its second key.
#[derive(Clone, Debug, Default)]
pub struct ShortcutReader {
    g_pressed_at: Option<Millis>,
}

impl ShortcutReader {
    /// How long a `g` waits for its second key.
    pub const SEQUENCE_WINDOW: DurationMs = DurationMs(1_500);

    /// The shortcut `press` completes, if any. A key typed into a field, or with a
    /// modifier, is never a shortcut and forgets a waiting `g`.
    pub fn read(&mut self, press: KeyPress<'_>) -> Option<Shortcut> {
        let waiting_g = self
            .g_pressed_at
            .take()
            .is_some_and(|at| press.at.since(at) <= Self::SEQUENCE_WINDOW);
        if press.in_field || press.with_modifier {
            return None;
        }
        if waiting_g {
            return match press.key {
                "d" => Some(Shortcut::GoDashboard),
                "c" => Some(Shortcut::GoCases),
                "s" => Some(Shortcut::GoSync),
                _ => None,
            };
        }
        match press.key {
            "g" => {
                self.g_pressed_at = Some(press.at);
                None
            }
            "/" => Some(Shortcut::FocusSearch),
            "c" => Some(Shortcut::NewCase),
            "j" => Some(Shortcut::NextCase),
            "k" => Some(Shortcut::PreviousCase),
            "?" => Some(Shortcut::ShowHelp),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(key: &str, at: u64) -> KeyPress<'_> {
        KeyPress {
            key,
            with_modifier: false,
            in_field: false,
            at: Millis(at),
        }
    }

    #[test]
    fn single_keys_make_their_shortcuts() {
        let mut reader = ShortcutReader::default();
        for (key, shortcut) in [
            ("/", Shortcut::FocusSearch),
            ("c", Shortcut::NewCase),
            ("j", Shortcut::NextCase),
            ("k", Shortcut::PreviousCase),
            ("?", Shortcut::ShowHelp),
        ] {
            assert_eq!(reader.read(press(key, 0)), Some(shortcut), "{key}");
        }
        assert_eq!(reader.read(press("x", 0)), None);
        assert_eq!(reader.read(press("Enter", 0)), None);
    }

    #[test]
    fn g_then_a_letter_goes_to_a_page_within_the_window() {
        let mut reader = ShortcutReader::default();
        for (key, shortcut) in [
            ("d", Shortcut::GoDashboard),
            ("c", Shortcut::GoCases),
            ("s", Shortcut::GoSync),
        ] {
            assert_eq!(reader.read(press("g", 1_000)), None);
            assert_eq!(reader.read(press(key, 2_000)), Some(shortcut), "g {key}");
        }
        // `g c` is the case list, not "g, then a new case".
        assert_eq!(reader.read(press("g", 0)), None);
        assert_ne!(reader.read(press("c", 10)), Some(Shortcut::NewCase));
        // Too late: the second key stands alone.
        assert_eq!(reader.read(press("g", 0)), None);
        assert_eq!(reader.read(press("c", 1_501)), Some(Shortcut::NewCase));
        // Another key after `g` ends the sequence.
        assert_eq!(reader.read(press("g", 0)), None);
        assert_eq!(reader.read(press("x", 10)), None);
        assert_eq!(reader.read(press("d", 20)), None);
    }

    #[test]
    fn nothing_fires_while_typing_or_with_a_modifier() {
        let mut reader = ShortcutReader::default();
        for key in ["/", "c", "j", "k", "?", "g"] {
            let typing = KeyPress {
                in_field: true,
                ..press(key, 0)
            };
            assert_eq!(reader.read(typing), None, "{key} in a field");
            let chord = KeyPress {
                with_modifier: true,
                ..press(key, 0)
            };
            assert_eq!(reader.read(chord), None, "{key} with a modifier");
        }
        // A `g` typed outside, then `d` typed in a field: no jump.
        assert_eq!(reader.read(press("g", 0)), None);
        let typed = KeyPress {
            in_field: true,
            ..press("d", 10)
        };
        assert_eq!(reader.read(typed), None);
        assert_eq!(reader.read(press("d", 20)), None);
    }

    #[test]
    fn every_shortcut_names_distinct_keys() {
        let mut keys: Vec<&str> = Shortcut::ALL.iter().map(|s| s.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Shortcut::ALL.len());
    }
}
