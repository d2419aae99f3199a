//! Which host uid each sandbox's root is: one of msbd's range (`--uid-range`) per sandbox,
//! handed out in turn so that a uid just given back is the last to be taken again. Sandboxes
//! recorded by an earlier msbd keep theirs (their records say which).

use super::UidRange;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub(super) struct Uids {
    range: UidRange,
    /// Sandbox by uid, and where the next search starts.
    taken: Mutex<(BTreeMap<u32, String>, u32)>,
}

impl Uids {
    /// The range, with the uids that `recorded` sandboxes already hold.
    pub fn new(range: UidRange, recorded: impl IntoIterator<Item = (String, u32)>) -> Self {
        let taken = recorded
            .into_iter()
            .filter(|(_, uid)| range.contains(*uid))
            .map(|(name, uid)| (uid, name))
            .collect();
        Self {
            range,
            taken: Mutex::new((taken, 0)),
        }
    }

    fn taken(&self) -> MutexGuard<'_, (BTreeMap<u32, String>, u32)> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free uid for `sandbox`; `None` when every uid of the range is taken.
    pub fn take(&self, sandbox: &str) -> Option<u32> {
        let mut guard = self.taken();
        let (taken, next) = &mut *guard;
        let offset = (0..self.range.count)
            .map(|i| (*next + i) % self.range.count)
            .find(|offset| !taken.contains_key(&(self.range.start + offset)))?;
        let uid = self.range.start + offset;
        taken.insert(uid, sandbox.to_string());
        *next = (offset + 1) % self.range.count;
        Some(uid)
    }

    /// Frees the uid of `sandbox`, if it holds one.
    pub fn give_back(&self, sandbox: &str) {
        self.taken().0.retain(|_, name| name != sandbox);
    }

    pub fn range(&self) -> UidRange {
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sandbox_gets_its_own_uid_until_the_range_is_spent() {
        let range = UidRange {
            start: 1000,
            count: 3,
        };
        let uids = Uids::new(range, [("old".to_string(), 1000)]);
        assert_eq!(uids.take("a"), Some(1001));
        assert_eq!(uids.take("b"), Some(1002));
        assert_eq!(uids.take("c"), None);
        uids.give_back("a");
        assert_eq!(uids.take("c"), Some(1001));
        uids.give_back("old");
        uids.give_back("b");
        // In turn: the uid after the last one given, not the lowest free.
        assert_eq!(uids.take("d"), Some(1002));
        assert_eq!(uids.take("e"), Some(1000));
    }
}
