//! Which host uids each sandbox's root and ordinary user are: two consecutive ones of msbd's
//! range (`--uid-range`) per sandbox, root's first, handed out in turn so that a pair just
//! given back is the last to be taken again. Sandboxes recorded by an earlier msbd keep
//! theirs (their records say root's; the user's is the next).

use super::UidRange;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
pub(super) struct Uids {
    range: UidRange,
    /// Sandbox by root's uid, and where the next search starts (a pair's offset).
    taken: Mutex<(BTreeMap<u32, Arc<str>>, u32)>,
}

impl Uids {
    /// The range, with the uids that `recorded` sandboxes already hold.
    pub fn new(range: UidRange, recorded: impl IntoIterator<Item = (String, u32)>) -> Self {
        let taken = recorded
            .into_iter()
            .filter(|(_, uid)| range.contains(*uid))
            .map(|(name, uid)| (uid, Arc::from(name)))
            .collect();
        Self {
            range,
            taken: Mutex::new((taken, 0)),
        }
    }

    fn taken(&self) -> MutexGuard<'_, (BTreeMap<u32, Arc<str>>, u32)> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free pair for `sandbox`: root's uid (the user's is the next); `None` when every
    /// pair of the range is taken.
    pub fn take(&self, sandbox: &Arc<str>) -> Option<u32> {
        let mut guard = self.taken();
        let (taken, next) = &mut *guard;
        let pairs = self.range.count / 2;
        let pair = (0..pairs).map(|i| (*next + i) % pairs).find(|pair| {
            // Either uid may be the root of a sandbox recorded when each took one only.
            let root = self.range.start + 2 * pair;
            !taken.contains_key(&root) && !taken.contains_key(&(root + 1))
        })?;
        let uid = self.range.start + 2 * pair;
        taken.insert(uid, sandbox.clone());
        *next = (pair + 1) % pairs;
        Some(uid)
    }

    /// Frees the uids of `sandbox`, if it holds them.
    pub fn give_back(&self, sandbox: &str) {
        self.taken().0.retain(|_, name| &**name != sandbox);
    }

    pub fn range(&self) -> UidRange {
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sandbox_gets_its_own_pair_until_the_range_is_spent() {
        let range = UidRange {
            start: 1000,
            count: 7,
        };
        let uids = Uids::new(
            range,
            [("old".to_string(), 1000), ("older".to_string(), 1003)],
        );
        // 1002 is free, but 1003 is root of a sandbox from before pairs.
        assert_eq!(uids.take(&"a".into()), Some(1004));
        assert_eq!(uids.take(&"b".into()), None);
        uids.give_back("older");
        uids.give_back("a");
        assert_eq!(uids.take(&"a".into()), Some(1002));
        assert_eq!(uids.take(&"b".into()), Some(1004));
        // 1006 alone is no pair.
        assert_eq!(uids.take(&"c".into()), None);
        uids.give_back("a");
        assert_eq!(uids.take(&"c".into()), Some(1002));
        uids.give_back("old");
        uids.give_back("b");
        // In turn: the pair after the last one given, not the lowest free.
        assert_eq!(uids.take(&"d".into()), Some(1004));
        assert_eq!(uids.take(&"e".into()), Some(1000));
    }
}
