//! The layering of `actors/src`, checked from the source: every `crate::` path a module names
//! (outside its tests) must point down this order of layers, and no two modules may import each
//! other through a cycle:
//!
//! ```text
//! supervisor → tenancy → cluster → notify → analytics → recording → media → context → base
//! ```
//!
//! `base` is `metrics`, `backoff`, `children` (what keepers do when a child actor ends),
//! `signing`, `cluster_auth` (the cluster's signing key, which every layer signs or verifies with)
//! and `ownership` (the cameras this node records, written by
//! placement and read by recording) and `clock` (time, real or simulated). A higher layer
//! reaches a lower one's services only through
//! traits the lower one defines (`recording::analysis`, `cluster::local`) and the supervisor wires.
//! [`KNOWN_UPWARD`] and [`KNOWN_CYCLES`] list accepted exceptions; both are empty, and the test
//! fails on any new one, and on a listed one that is gone (so the lists only shrink).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers, lowest first.
const ORDER: [&str; 9] = [
    "base",
    "context",
    "media",
    "recording",
    "analytics",
    "notify",
    "cluster",
    "tenancy",
    "supervisor",
];

/// Upward imports that exist today (`file -> layer`), to be removed.
const KNOWN_UPWARD: &[&str] = &[];

/// Import cycles between modules that exist today (their modules, sorted, joined by `,`).
const KNOWN_CYCLES: &[&str] = &[];

/// The module a `crate::<name>` path reaches, and its layer (`None`: not a module of ours).
fn module_of(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "metrics" => ("metrics", "base"),
        "backoff" => ("backoff", "base"),
        "children" => ("children", "base"),
        "signing" => ("signing", "base"),
        "cluster_auth" => ("cluster_auth", "base"),
        "ownership" => ("ownership", "base"),
        "clock" => ("clock", "base"),
        "context" => ("context", "context"),
        "sampler" => ("sampler", "media"),
        "ingest" => ("ingest", "media"),
        "layout" => ("layout", "media"),
        "nal" => ("nal", "media"),
        "recovery" => ("recovery", "media"),
        "ts_scan" => ("ts_scan", "media"),
        "tls_relay" => ("tls_relay", "media"),
        "fmp4" => ("fmp4", "media"),
        "fmp4_scan" => ("fmp4_scan", "media"),
        "fmp4_audio" => ("fmp4_audio", "media"),
        "fmp4_trak" => ("fmp4_trak", "media"),
        "audio_queue" => ("audio_queue", "media"),
        "fragmenter" => ("fragmenter", "media"),
        "rtsp" => ("rtsp", "media"),
        "analysis" => ("analysis", "recording"),
        "tenant_cameras" => ("tenant_cameras", "recording"),
        "camera" => ("camera", "recording"),
        "segmenter" => ("segmenter", "recording"),
        "retention" => ("retention", "recording"),
        "orphans" => ("orphans", "recording"),
        "mirrored" => ("mirrored", "recording"),
        "object_tier" => ("object_tier", "recording"),
        "uploader" => ("uploader", "recording"),
        "analytics" => ("analytics", "analytics"),
        "rules" => ("rules", "analytics"),
        "outbox" => ("outbox", "analytics"),
        "feed" => ("feed", "analytics"),
        "usage" => ("usage", "analytics"),
        "queue_metrics" => ("queue_metrics", "analytics"),
        "inference" => ("inference", "analytics"),
        "notifier" => ("notifier", "notify"),
        "escalation" => ("escalation", "notify"),
        "ticket_actor" => ("ticket_actor", "notify"),
        "ticket_keeper" => ("ticket_keeper", "notify"),
        "membership" => ("membership", "cluster"),
        "links" => ("links", "cluster"),
        "changes" => ("changes", "cluster"),
        "placement" => ("placement", "cluster"),
        "plan" => ("plan", "cluster"),
        "self_fence" => ("self_fence", "cluster"),
        "frame_wire" => ("frame_wire", "cluster"),
        "replica" => ("replica", "cluster"),
        "replica_keeper" => ("replica_keeper", "cluster"),
        "replica_plan" => ("replica_plan", "cluster"),
        "router" => ("router", "cluster"),
        "tenancy" => ("tenancy", "tenancy"),
        "home" => ("home", "tenancy"),
        "tenant_actor" => ("tenant_actor", "tenancy"),
        "tenant_keeper" => ("tenant_keeper", "tenancy"),
        "supervisor" => ("supervisor", "supervisor"),
        _ => return None,
    })
}

/// The module and layer of the source file at `rel` (relative to `actors/src`).
fn file_module(rel: &str) -> Option<(&'static str, &'static str)> {
    let stem = rel.strip_suffix(".rs")?;
    let name = match stem {
        "analytics/detection" => "analytics",
        s => s.rsplit('/').next()?,
    };
    module_of(name)
}

/// Every `.rs` file under `dir`, relative to `root`.
fn sources(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Folders of `actors/src`: `crate::<folder>::<module>` reaches that module.
const FOLDERS: [&str; 5] = ["media", "recording", "analytics", "notify", "cluster"];

/// The module names `code` reaches as `crate::<name>` or `crate::<folder>::<name>`, in
/// `use crate::{a, b::c}` groups too.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    // `rest` follows `crate::` or a folder's `::`: the module it names.
    let module = |rest: &str| -> String {
        let head = ident(rest);
        let after = &rest.trim_start()[head.len()..];
        match after.strip_prefix("::") {
            Some(next) if FOLDERS.contains(&head.as_str()) && module_of(&ident(next)).is_some() => {
                ident(next)
            }
            _ => head,
        }
    };
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find("};").unwrap_or(group.len())];
            for part in group.split(',') {
                names.insert(module(
                    part.trim_start_matches(|c: char| c.is_whitespace() || c == '{'),
                ));
            }
        } else {
            names.insert(module(rest));
        }
    }
    names.remove("");
    names
}

/// Strongly connected components of more than one module (Tarjan's algorithm, iterative enough for
/// a few dozen modules).
fn cycles(graph: &BTreeMap<&'static str, BTreeSet<&'static str>>) -> BTreeSet<String> {
    struct State<'a> {
        graph: &'a BTreeMap<&'static str, BTreeSet<&'static str>>,
        index: BTreeMap<&'static str, usize>,
        low: BTreeMap<&'static str, usize>,
        stack: Vec<&'static str>,
        on_stack: BTreeSet<&'static str>,
        found: BTreeSet<String>,
    }
    fn visit(s: &mut State<'_>, v: &'static str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let next: Vec<&'static str> = s.graph.get(v).into_iter().flatten().copied().collect();
        for w in next {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort_unstable();
                s.found.insert(component.join(","));
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: BTreeSet::new(),
    };
    for &v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn imports_point_down_the_layers_and_form_no_new_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    files.sort();
    let layer = |l: &str| ORDER.iter().position(|o| *o == l).expect("a layer");
    let mut upward = BTreeSet::new();
    let mut graph: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for rel in &files {
        let Some((module, from)) = file_module(rel) else {
            continue;
        };
        let code = std::fs::read_to_string(root.join(rel)).expect("readable source");
        // A module's tests may reach anywhere.
        let code = code.split("#[cfg(test)]").next().unwrap_or("");
        for name in crate_paths(code) {
            let Some((target, to)) = module_of(&name) else {
                continue;
            };
            if target != module {
                graph.entry(module).or_default().insert(target);
            }
            if layer(to) > layer(from) {
                upward.insert(format!("{rel} -> {to}"));
            }
        }
    }
    let known: BTreeSet<String> = KNOWN_UPWARD.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = upward.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&upward).collect();
    assert!(new.is_empty(), "imports pointing up the layers: {new:#?}");
    assert!(
        gone.is_empty(),
        "fixed, so remove them from KNOWN_UPWARD: {gone:#?}"
    );
    let found = cycles(&graph);
    let known: BTreeSet<String> = KNOWN_CYCLES.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = found.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&found).collect();
    assert!(new.is_empty(), "import cycles: {new:#?}");
    assert!(
        gone.is_empty(),
        "changed or fixed, so update KNOWN_CYCLES: {gone:#?}"
    );
}

#[test]
fn the_checker_sees_an_upward_import_and_a_cycle() {
    let paths = crate_paths(
        "use crate::{camera::CameraActor, metrics};\nlet x = crate::backoff::delay;\nuse crate::recording::analysis::KeyframeAnalysis;\nuse crate::analytics::Analytics;",
    );
    assert_eq!(
        paths,
        ["analysis", "analytics", "backoff", "camera", "metrics"]
            .map(String::from)
            .into()
    );
    let mut graph: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    graph.entry("fmp4").or_default().insert("fragmenter");
    graph.entry("fragmenter").or_default().insert("fmp4");
    graph.entry("camera").or_default().insert("fragmenter");
    assert_eq!(
        cycles(&graph),
        BTreeSet::from(["fmp4,fragmenter".to_string()])
    );
}
