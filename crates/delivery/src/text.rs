//! Small text helpers shared by the chat adapters (Slack, Teams): the "open" button's
//! label in the recipient's language, and cutting text to a provider's limit.

/// The label of the button that opens the record: `Åpne` for Norwegian (`nb`, `nn`,
/// `no`, with or without a region), `Open` otherwise.
pub fn open_label(locale: &str) -> &'static str {
    if varsel_core::model::is_norwegian(locale) {
        "Åpne"
    } else {
        "Open"
    }
}

/// `s` cut to at most `max` characters (not bytes), ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_follows_the_language() {
        assert_eq!(open_label("en"), "Open");
        assert_eq!(open_label("nb"), "Åpne");
        assert_eq!(open_label("nb-NO"), "Åpne");
        assert_eq!(open_label("NN_no"), "Åpne");
        assert_eq!(open_label("sv"), "Open");
        assert_eq!(open_label(""), "Open");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("æøå", 3), "æøå");
        assert_eq!(truncate("æøåæ", 3), "æø…");
        assert_eq!(truncate("", 0), "");
    }
}
