//! Durations on the command line, in (fractional) seconds.

pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    // Bounded: Duration::from_secs_f64 panics on values it cannot hold.
    if (0.0..=1e9).contains(&seconds) { Ok(seconds) } else { Err(format!("{seconds} is not between 0 and 1e9")) }
}

pub fn parse_positive_seconds(text: &str) -> Result<f64, String> {
    let seconds = parse_seconds(text)?;
    if seconds > 0.0 { Ok(seconds) } else { Err("must be above 0".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_bounded_and_positive_where_asked() {
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        assert_eq!(parse_seconds("0"), Ok(0.0));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("1e10").is_err(), "Duration::from_secs_f64 would panic");
        assert!(parse_seconds("soon").expect_err("refused").contains("not a number"));
        assert!(parse_positive_seconds("0").is_err());
        assert_eq!(parse_positive_seconds("2"), Ok(2.0));
    }
}
