//! Who still uses a labelled series. Reloading a version (new files or a
//! config override) starts the new copy before the old one is retired, and
//! both write the same `(model, version)` series; the series may only be
//! removed when the last copy using it is gone, or the live copy's gauges
//! would vanish from /metrics.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct SeriesOwners(Mutex<HashMap<Vec<String>, usize>>);

impl SeriesOwners {
    pub fn claim(&self, labels: &[&str]) {
        let key = labels.iter().map(|l| (*l).to_owned()).collect();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += 1;
    }

    /// Gives up one claim; true when nobody uses the series any more.
    pub fn release(&self, labels: &[&str]) -> bool {
        let key: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        let mut owners = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match owners.get_mut(&key) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => {
                owners.remove(&key);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_owner_to_leave_removes_the_series() {
        let owners = SeriesOwners::default();
        owners.claim(&["fraud", "2"]);
        owners.claim(&["fraud", "2"]);
        owners.claim(&["fraud", "3"]);
        assert!(!owners.release(&["fraud", "2"]), "the reloaded copy still writes it");
        assert!(owners.release(&["fraud", "2"]));
        assert!(owners.release(&["fraud", "3"]));
    }
}
