//! A session's life: create, list, show, touch and stop, its sandbox with it.

use super::{Backend, Rig};

pub fn create_list_show_touch_and_stop_a_session(backend: &Backend) {
    let rig = Rig::start(backend, &[]);
    let created = rig.json(&["sessions", "create", "--id", "job-1", "--flavor", "medium"]);
    assert_eq!(created["id"], "job-1");
    assert_eq!(created["template"], "default");
    assert_eq!(created["flavor"], "medium");
    assert_eq!(created["status"], "ready");
    let name = created["sandbox"]
        .as_str()
        .expect("sandbox name")
        .to_string();
    let sandbox = rig.sandbox("job-1");
    assert!(rig.alive(&sandbox), "the sandbox runs");

    let list = rig.json(&["sessions", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    for field in [
        "id",
        "template",
        "flavor",
        "status",
        "sandbox",
        "created_at",
        "last_accessed",
    ] {
        assert!(
            !list[0][field].is_null(),
            "list entry lacks {field}: {list}"
        );
    }
    assert_eq!(
        rig.json(&["sessions", "show", "job-1"])["sandbox"],
        name.as_str()
    );
    assert_eq!(rig.json(&["sessions", "touch", "job-1"])["id"], "job-1");
    assert_eq!(rig.status()["sessions"]["active"], 1);

    assert!(
        rig.leaves_trace(&sandbox),
        "a sandbox of its own: {sandbox:?}"
    );
    let stopped = rig.json(&["sessions", "stop", "job-1"]);
    assert!(
        !rig.leaves_trace(&sandbox),
        "removed once stop returns: {sandbox:?}"
    );
    assert_eq!(stopped["status"], "stopped");
    assert!(
        !rig.alive(&sandbox),
        "the sandbox is gone once stop returns"
    );
    assert_eq!(rig.json(&["sessions", "list"]), serde_json::json!([]));
    rig.finish();
}
