//! Retention policies: plan, then apply.

use cfgvault_session::retention::{self, Policy};
use cfgvault_session::{self as session};
use cfgvault_store::{NoProgress, verify};
use chrono::Duration;

use crate::{Fixture, sid, t};

/// Sessions at these times (ids s0, s1, …, each with one distinct and one shared file).
fn fixture(times: &[&str]) -> Fixture {
    let fx = Fixture::new();
    for (i, at) in times.iter().enumerate() {
        let own = format!("content {i}");
        fx.session(
            &format!("s{i}"),
            at,
            &[("own.yaml", &own), ("shared.yaml", "same")],
        );
    }
    fx
}

/// Plans `policy` at `now` over sessions at `times` (pinning `pinned`), checks which are
/// removed, then applies and checks that the plan's freed bytes are what the commit freed.
fn check(times: &[&str], pinned: &[&str], policy: Policy, now: &str, removed: &[&str]) {
    let fx = fixture(times);
    for p in pinned {
        session::set_pinned(&fx.store, &sid(p), true).unwrap();
    }
    let plan = retention::plan(&fx.store, &policy, t(now)).unwrap();
    let mut got: Vec<String> = plan.remove.iter().map(|s| s.to_string()).collect();
    got.sort();
    assert_eq!(got, removed, "{policy:?}");
    assert_eq!(plan.remove.len() + plan.keep.len(), times.len());
    let outcome = retention::apply(&fx.store, &plan).unwrap();
    assert_eq!(outcome.bytes_freed, plan.bytes_freed);
    assert_eq!(outcome.objects_removed, plan.objects_freed);
    assert_eq!(
        session::stats(&fx.store).unwrap().sessions as usize,
        times.len() - removed.len()
    );
    let v = fx
        .store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

fn policy(f: impl FnOnce(&mut Policy)) -> Policy {
    let mut p = Policy::default();
    f(&mut p);
    p
}

const DAYS: &[&str] = &[
    "2025-03-01T09:00:00Z", // s0 Sat, ISO week 9
    "2025-03-01T18:00:00Z", // s1 Sat, week 9
    "2025-03-03T08:00:00Z", // s2 Mon, week 10
    "2025-03-03T20:00:00Z", // s3 Mon, week 10
    "2025-03-05T12:00:00Z", // s4 Wed, week 10
    "2025-03-10T12:00:00Z", // s5 Mon, week 11
];
const NOW: &str = "2025-03-11T00:00:00Z";

#[test]
fn no_rule_removes_nothing() {
    check(DAYS, &[], Policy::default(), NOW, &[]);
}

#[test]
fn keep_last() {
    check(
        DAYS,
        &[],
        policy(|p| p.keep_last = Some(2)),
        NOW,
        &["s0", "s1", "s2", "s3"],
    );
    check(DAYS, &[], policy(|p| p.keep_last = Some(10)), NOW, &[]);
    check(
        DAYS,
        &[],
        policy(|p| p.keep_last = Some(0)),
        NOW,
        &["s0", "s1", "s2", "s3", "s4", "s5"],
    );
}

#[test]
fn older_than() {
    check(
        DAYS,
        &[],
        policy(|p| p.older_than = Some(Duration::days(7))),
        NOW,
        &["s0", "s1", "s2", "s3"],
    );
    check(
        DAYS,
        &[],
        policy(|p| p.older_than = Some(Duration::days(30))),
        NOW,
        &[],
    );
    // Old sessions kept by another rule stay.
    check(
        DAYS,
        &[],
        policy(|p| {
            p.older_than = Some(Duration::days(7));
            p.keep_last = Some(3);
        }),
        NOW,
        &["s0", "s1", "s2"],
    );
}

#[test]
fn keep_daily_and_weekly() {
    check(
        DAYS,
        &[],
        policy(|p| p.keep_daily = Some(3)),
        NOW,
        &["s0", "s1", "s2"],
    );
    check(
        DAYS,
        &[],
        policy(|p| p.keep_daily = Some(4)),
        NOW,
        &["s0", "s2"],
    );
    check(
        DAYS,
        &[],
        policy(|p| p.keep_weekly = Some(2)),
        NOW,
        &["s0", "s1", "s2", "s3"],
    );
    check(
        DAYS,
        &[],
        policy(|p| p.keep_weekly = Some(3)),
        NOW,
        &["s0", "s2", "s3"],
    );
    check(
        DAYS,
        &[],
        policy(|p| {
            p.keep_daily = Some(1);
            p.keep_weekly = Some(2);
        }),
        NOW,
        &["s0", "s1", "s2", "s3"],
    );
}

#[test]
fn pinned_sessions_are_never_removed() {
    check(
        DAYS,
        &["s0", "s3"],
        policy(|p| p.keep_last = Some(1)),
        NOW,
        &["s1", "s2", "s4"],
    );
    check(
        DAYS,
        &["s1"],
        policy(|p| p.older_than = Some(Duration::days(1))),
        NOW,
        &["s0", "s2", "s3", "s4"],
    );
}

#[test]
fn apply_passes_over_sessions_pinned_after_the_plan() {
    let fx = fixture(DAYS);
    let plan = retention::plan(&fx.store, &policy(|p| p.keep_last = Some(5)), t(NOW)).unwrap();
    assert_eq!(plan.remove, [sid("s0")]);
    session::set_pinned(&fx.store, &sid("s0"), true).unwrap();
    let outcome = retention::apply(&fx.store, &plan).unwrap();
    assert_eq!(outcome.objects_removed, 0);
    assert_eq!(session::stats(&fx.store).unwrap().sessions, 6);
}
