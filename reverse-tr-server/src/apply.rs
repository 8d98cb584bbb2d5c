//! Writing the operator's policy into the running program, all or nothing:
//! the writes are planned first, then made one by one, and a failure half
//! way undoes the ones made, so the previous policy is wholly in force
//! again (or the error says that it could not be restored).

use std::{collections::BTreeSet, fmt};

use aya::{
    Ebpf,
    maps::{Array, LpmTrie},
};
use reverse_tr_common::policy::Policy;

use crate::{
    error::{Error, Result},
    maps::{map_error, map_mut},
    policy::{List, Lists, Prefix},
};

/// One list entry added or removed by [`apply`] ([`crate::Server::apply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub added: bool,
    pub list: List,
    pub prefix: Prefix,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.added { '+' } else { '-' };
        write!(f, "{sign}{} {}", self.list, self.prefix)
    }
}

/// The program's policy maps as [`apply`] reads and writes them; the seam
/// where the tests inject failures.
pub trait PolicyMaps {
    /// The prefixes in `list`.
    fn prefixes(&mut self, list: List) -> Result<BTreeSet<Prefix>>;
    /// Adds `prefix` to `list`.
    fn insert(&mut self, list: List, prefix: &Prefix) -> Result<()>;
    /// Removes `prefix` from `list`.
    fn remove(&mut self, list: List, prefix: &Prefix) -> Result<()>;
    /// The policy in force.
    fn policy(&mut self) -> Result<Policy>;
    /// Puts `policy` in force.
    fn set_policy(&mut self, policy: &Policy) -> Result<()>;
}

/// One planned write and what undoes it.
enum Step {
    Add(List, Prefix),
    Remove(List, Prefix),
    /// Boxed: a policy is large beside a prefix.
    Policy {
        new: Box<Policy>,
        old: Box<Policy>,
    },
}

impl Step {
    fn run(&self, maps: &mut impl PolicyMaps) -> Result<()> {
        match self {
            Self::Add(list, prefix) => maps.insert(*list, prefix),
            Self::Remove(list, prefix) => maps.remove(*list, prefix),
            Self::Policy { new, .. } => maps.set_policy(new),
        }
    }

    fn undo(&self, maps: &mut impl PolicyMaps) -> Result<()> {
        match self {
            Self::Add(list, prefix) => maps.remove(*list, prefix),
            Self::Remove(list, prefix) => maps.insert(*list, prefix),
            Self::Policy { old, .. } => maps.set_policy(old),
        }
    }

    fn change(&self) -> Option<Change> {
        match self {
            Self::Add(list, prefix) | Self::Remove(list, prefix) => Some(Change {
                added: matches!(self, Self::Add(..)),
                list: *list,
                prefix: *prefix,
            }),
            Self::Policy { .. } => None,
        }
    }
}

/// Puts `policy` and `lists` in force in `maps`: new entries first, then
/// the policy, then stale entries are removed, so no moment admits a
/// source that neither the old nor the new policy admits. Returns the
/// list entries that changed; on failure nothing did (or the error is
/// [`Error::PolicyTorn`]).
pub fn apply(maps: &mut impl PolicyMaps, policy: &Policy, lists: &Lists) -> Result<Vec<Change>> {
    let old = maps.policy()?;
    let new = Policy {
        allow_listed_only: u8::from(!lists.allow.is_empty()),
        deny_listed: u8::from(!lists.deny.is_empty()),
        ..*policy
    };
    let mut steps = Vec::new();
    let mut stale = Vec::new();
    for list in [List::Deny, List::Allow] {
        let present = maps.prefixes(list)?;
        let wanted = lists.get(list);
        steps.extend(wanted.difference(&present).map(|p| Step::Add(list, *p)));
        stale.extend(present.difference(wanted).map(|p| Step::Remove(list, *p)));
    }
    steps.push(Step::Policy {
        new: Box::new(new),
        old: Box::new(old),
    });
    steps.extend(stale);
    for (done, step) in steps.iter().enumerate() {
        if let Err(cause) = step.run(maps) {
            let cause = Box::new(cause);
            let undone = steps[..done]
                .iter()
                .rev()
                .try_for_each(|step| step.undo(maps));
            return Err(match undone {
                Ok(()) => Error::PolicyKept(cause),
                Err(undo) => Error::PolicyTorn {
                    cause,
                    undo: Box::new(undo),
                },
            });
        }
    }
    Ok(steps.iter().filter_map(Step::change).collect())
}

/// The maps of the loaded program.
pub(crate) struct ProgramMaps<'a>(pub(crate) &'a mut Ebpf);

impl ProgramMaps<'_> {
    fn trie(&mut self, list: List) -> Result<LpmTrie<&mut aya::maps::MapData, [u8; 16], u8>> {
        let name = match list {
            List::Allow => "ALLOW",
            List::Deny => "DENY",
        };
        LpmTrie::try_from(map_mut(self.0, name)?).map_err(map_error(name))
    }

    fn array(&mut self) -> Result<Array<&mut aya::maps::MapData, Policy>> {
        Array::try_from(map_mut(self.0, "POLICY")?).map_err(map_error("POLICY"))
    }
}

impl PolicyMaps for ProgramMaps<'_> {
    fn prefixes(&mut self, list: List) -> Result<BTreeSet<Prefix>> {
        self.trie(list)?
            .keys()
            .map(|key| key.map(|key| Prefix::of_key(&key)))
            .collect::<std::result::Result<_, _>>()
            .map_err(map_error("reading a prefix list"))
    }

    fn insert(&mut self, list: List, prefix: &Prefix) -> Result<()> {
        self.trie(list)?
            .insert(&prefix.key(), &1, 0)
            .map_err(map_error("adding to a prefix list"))
    }

    fn remove(&mut self, list: List, prefix: &Prefix) -> Result<()> {
        self.trie(list)?
            .remove(&prefix.key())
            .map_err(map_error("removing from a prefix list"))
    }

    fn policy(&mut self) -> Result<Policy> {
        self.array()?
            .get(&0, 0)
            .map_err(map_error("reading the policy"))
    }

    fn set_policy(&mut self, policy: &Policy) -> Result<()> {
        self.array()?
            .set(0, policy, 0)
            .map_err(map_error("writing the policy"))
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use reverse_tr_common::policy::Rate;

    use super::*;

    /// Maps in memory whose writes numbered (from 0) in `failing` fail.
    #[derive(Debug, Clone)]
    struct Fake {
        lists: Lists,
        policy: Policy,
        writes: usize,
        failing: Range<usize>,
    }

    impl Fake {
        fn write(&mut self) -> Result<()> {
            let number = self.writes;
            self.writes += 1;
            match self.failing.contains(&number) {
                true => Err(Error::Config("injected failure".into())),
                false => Ok(()),
            }
        }

        fn list(&mut self, list: List) -> &mut BTreeSet<Prefix> {
            match list {
                List::Allow => &mut self.lists.allow,
                List::Deny => &mut self.lists.deny,
            }
        }

        /// What the program would enforce.
        fn state(&self) -> (&Lists, &Policy) {
            (&self.lists, &self.policy)
        }
    }

    impl PolicyMaps for Fake {
        fn prefixes(&mut self, list: List) -> Result<BTreeSet<Prefix>> {
            Ok(self.list(list).clone())
        }

        fn insert(&mut self, list: List, prefix: &Prefix) -> Result<()> {
            self.write()?;
            self.list(list).insert(*prefix);
            Ok(())
        }

        fn remove(&mut self, list: List, prefix: &Prefix) -> Result<()> {
            self.write()?;
            self.list(list).remove(prefix);
            Ok(())
        }

        fn policy(&mut self) -> Result<Policy> {
            Ok(self.policy)
        }

        fn set_policy(&mut self, policy: &Policy) -> Result<()> {
            self.write()?;
            self.policy = *policy;
            Ok(())
        }
    }

    fn lists(allow: &[&str], deny: &[&str]) -> Lists {
        let set = |items: &[&str]| items.iter().map(|p| p.parse().expect("prefix")).collect();
        Lists {
            allow: set(allow),
            deny: set(deny),
        }
    }

    /// The old state (some allowed and denied prefixes, a rate limit),
    /// whose later writes numbered in `failing` fail.
    fn old(failing: Range<usize>) -> Fake {
        let mut fake = Fake {
            lists: Lists::default(),
            policy: Policy::default(),
            writes: 0,
            failing: 0..0,
        };
        let policy = Policy {
            source: Rate::new(10, 20).expect("a rate"),
            ..Policy::default()
        };
        let lists = lists(&["192.0.2.0/24", "2001:db8::/32"], &["192.0.2.128/25"]);
        apply(&mut fake, &policy, &lists).expect("the old policy applies");
        Fake {
            writes: 0,
            failing,
            ..fake
        }
    }

    /// The new policy: one allow entry kept, one replaced, the deny list
    /// replaced, another rate; five list changes and the policy itself.
    fn new() -> (Policy, Lists) {
        let policy = Policy {
            source: Rate::new(400, 1000).expect("a rate"),
            ..Policy::default()
        };
        let lists = lists(
            &["192.0.2.0/24", "198.51.100.0/24"],
            &["203.0.113.0/24", "2001:db8:1::/48"],
        );
        (policy, lists)
    }
    const WRITES: usize = 6;

    #[test]
    fn a_reload_reports_its_changes_and_puts_all_in_force() {
        let mut fake = old(0..0);
        let (policy, lists) = new();
        let changes = apply(&mut fake, &policy, &lists).expect("applied");
        let changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            changes,
            [
                "+deny 203.0.113.0/24",
                "+deny 2001:db8:1::/48",
                "+allow 198.51.100.0/24",
                "-deny 192.0.2.128/25",
                "-allow 2001:db8::/32",
            ]
        );
        assert_eq!(fake.writes, WRITES);
        assert_eq!(fake.lists, lists);
        assert_eq!(fake.policy.source, policy.source);
        assert_eq!(
            (fake.policy.allow_listed_only, fake.policy.deny_listed),
            (1, 1)
        );
    }

    #[test]
    fn a_failure_at_any_write_leaves_the_old_policy_wholly_in_force() {
        let (policy, lists) = new();
        for failing in 0..WRITES {
            let mut fake = old(failing..failing + 1);
            let before = fake.clone();
            let error = apply(&mut fake, &policy, &lists).expect_err("a write fails");
            assert!(
                matches!(error, Error::PolicyKept(_)),
                "write {failing}: {error}"
            );
            assert_eq!(
                fake.state(),
                before.state(),
                "write {failing} failing left a mixture"
            );
        }
    }

    #[test]
    fn a_failed_undo_is_reported_as_such() {
        let (policy, lists) = new();
        // The third write fails, and so does every write after it.
        let mut fake = old(2..usize::MAX);
        let error = apply(&mut fake, &policy, &lists).expect_err("a write fails");
        assert!(matches!(error, Error::PolicyTorn { .. }), "{error}");
        assert!(error.to_string().contains("restart"), "{error}");
    }
}
