//! The machine and moment a report describes: cores, memory, disk kind, load, date, commit.

use std::path::Path;
use std::process::Command;

/// What the report says about where and when the figures were taken.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// Online CPUs and their model.
    pub cpu: String,
    /// Total memory.
    pub memory: String,
    /// The block device under the working directory and whether it is rotational.
    pub disk: String,
    /// Kernel release.
    pub kernel: String,
    /// `rustc -V`.
    pub rustc: String,
    /// Load averages (1, 5, 15 min) when the report was generated.
    pub load: String,
    /// UTC date and time of the report.
    pub date: String,
    /// `git rev-parse --short HEAD`, with `+dirty` when the tree has changes.
    pub commit: String,
}

/// Reads `/proc`, `/sys` and a few commands; anything unreadable is reported as `unknown`.
pub fn describe() -> Machine {
    Machine {
        cpu: cpu(),
        memory: memory(),
        disk: disk(),
        kernel: read("/proc/sys/kernel/osrelease"),
        rustc: command("rustc", &["-V"]),
        load: read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        date: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: commit(),
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn command(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn cpu() -> String {
    let info = read("/proc/cpuinfo");
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown model".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} × {model}")
}

fn memory() -> String {
    read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kib| format!("{:.1} GiB", kib as f64 / 1_048_576.0),
        )
}

/// The device `df` names for the current directory, its `/sys/block` queue facts.
fn disk() -> String {
    let source = command("df", &["--output=source,fstype", "."]);
    let Some(line) = source.lines().nth(1) else {
        return "unknown".into();
    };
    let mut parts = line.split_whitespace();
    let (dev, fstype) = (parts.next().unwrap_or("?"), parts.next().unwrap_or("?"));
    let name = dev.trim_start_matches("/dev/");
    let block = block_device(name);
    let rotational = read(&format!("/sys/block/{block}/queue/rotational"));
    let kind = match rotational.as_str() {
        "0" => "non-rotational (SSD or virtual)",
        "1" => "flagged rotational (virtual disks often are)",
        _ => "kind unknown",
    };
    let model = read(&format!("/sys/block/{block}/device/model"));
    let virtio = Path::new(&format!("/sys/block/{block}/device/driver"))
        .read_link()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let driver = virtio.map(|d| format!(", driver {d}")).unwrap_or_default();
    let model = if model == "unknown" {
        String::new()
    } else {
        format!(", model {model}")
    };
    format!("{dev} ({fstype}), {kind}{model}{driver}")
}

/// `vda1` → `vda`, `nvme0n1p2` → `nvme0n1`: the whole disk a partition belongs to.
fn block_device(partition: &str) -> String {
    if Path::new(&format!("/sys/block/{partition}")).exists() {
        return partition.to_owned();
    }
    let trimmed = partition.trim_end_matches(|c: char| c.is_ascii_digit());
    let trimmed = trimmed.strip_suffix('p').unwrap_or(trimmed);
    trimmed.to_owned()
}

fn commit() -> String {
    let head = command("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["diff", "--quiet", "HEAD", "--", "benches"])
        .status()
        .is_ok_and(|s| !s.success());
    if dirty {
        format!("{head}+dirty (benches/)")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn partitions_map_to_their_disk() {
        assert_eq!(super::block_device("zz9p1"), "zz9");
        assert_eq!(super::block_device("zzq1"), "zzq");
    }
}
