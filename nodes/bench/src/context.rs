//! What every benchmark prints before its figures, so that each figure can be reproduced and judged:
//! the build, the machine's core count and load average, and the exact command line.

/// The lines [`print`] writes.
pub fn lines() -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into());
    let build = if cfg!(debug_assertions) {
        "debug build (figures are not representative: use --release)"
    } else {
        "release build"
    };
    let command = std::env::args()
        .map(|a| shell_quoted(&a))
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        format!("machine: {cores} cores, load average {load} (1, 5, 15 min)"),
        format!("build:   {build}"),
        format!("command: {command}"),
    ]
}

/// Prints the context lines, then an empty line.
pub fn print() {
    for line in lines() {
        println!("{line}");
    }
    println!();
}

/// `arg` as a POSIX shell reads it back.
fn shell_quoted(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_cores_load_and_command() {
        let lines = lines();
        assert!(lines[0].contains(" cores, load average "), "{lines:?}");
        assert!(lines[2].starts_with("command: "), "{lines:?}");
        assert_eq!(shell_quoted("--cameras"), "--cameras");
        assert_eq!(shell_quoted("a b"), "'a b'");
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
        assert_eq!(shell_quoted(""), "''");
    }
}
