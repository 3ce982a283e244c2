//! "Did you mean ...?" suggestions for misspelled names.

/// A hint naming the candidate closest to `given`, when one is close enough to be a typo.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let given_lower = given.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&given_lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(distance, c)| *distance > 0 || *c != given)
        .filter(|(distance, c)| {
            *distance <= (c.chars().count().max(given.chars().count()) / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| format!("did you mean '{c}'?"))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["partitions", "replication_factor", "config"];
        assert_eq!(
            did_you_mean("partitons", keys).as_deref(),
            Some("did you mean 'partitions'?")
        );
        assert_eq!(
            did_you_mean("Config", keys).as_deref(),
            Some("did you mean 'config'?")
        );
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
