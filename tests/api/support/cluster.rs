//! A throwaway PostgreSQL cluster owned by a test: `initdb` into a temporary directory, `pg_ctl`
//! to start and stop it on a free port. Tests use it to produce real failures (a wrong password
//! under scram-sha-256, a server without TLS, a server that goes away) without touching the
//! shared server. As root, the PostgreSQL binaries run as the `postgres` user, as they must.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Trust,
    /// scram-sha-256; the `postgres` user gets this password.
    Scram(&'static str),
}

pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    /// More server options (`-c name=value …`).
    options: String,
}

fn postgres_bin_dir() -> Option<PathBuf> {
    // Symlinks on PATH may cover only some programs: take the directory they point into.
    if let Ok(path) = which("pg_ctl") {
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        return path.parent().map(Path::to_path_buf);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|path| path.exists())
        })
        .ok_or(())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| output.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

impl Cluster {
    /// Creates and starts a cluster; `None` when PostgreSQL is not installed.
    pub fn start(auth: Auth) -> Option<Self> {
        let bin = postgres_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("gw-cluster-").tempdir().ok()?;
        let cluster = Self {
            port: super::closed_port(),
            dir,
            bin,
            options: String::new(),
        };
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .ok()?;
            assert!(status.success(), "chown the cluster directory");
        }
        let password_file = cluster.dir.path().join("password");
        let mut initdb = vec![
            "-D".to_owned(),
            cluster.data().display().to_string(),
            "-U".into(),
            "postgres".into(),
            "--no-sync".into(),
        ];
        match auth {
            Auth::Trust => initdb.push("--auth=trust".into()),
            Auth::Scram(password) => {
                std::fs::write(&password_file, password).ok()?;
                if running_as_root() {
                    Command::new("chown")
                        .args(["postgres:postgres"])
                        .arg(&password_file)
                        .status()
                        .ok()?;
                }
                initdb.push("--auth=scram-sha-256".into());
                initdb.push(format!("--pwfile={}", password_file.display()));
            }
        }
        let output = cluster.command("initdb").args(&initdb).output().ok()?;
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.start_again();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=off {}",
            self.port,
            self.dir.path().display(),
            self.options
        );
        let output = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "start"])
            .output()
            .expect("run pg_ctl start");
        assert!(
            output.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`), started on its own port with
    /// these extra server options.
    pub fn replica(&self, options: &str) -> Option<Self> {
        let dir = tempfile::Builder::new().prefix("gw-replica-").tempdir().ok()?;
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
            assert!(status.success(), "chown the replica directory");
        }
        let replica = Self {
            port: super::closed_port(),
            dir,
            bin: self.bin.clone(),
            options: options.to_owned(),
        };
        let output = replica
            .command("pg_basebackup")
            .arg("-D")
            .arg(replica.data())
            .args([
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
            ])
            .arg(self.port.to_string())
            .output()
            .ok()?;
        assert!(
            output.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        replica.start_again();
        Some(replica)
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Stops the cluster (fast shutdown: open connections are closed).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }

    /// URL for `user` (with an optional password) and `database`.
    pub fn url(&self, user: &str, password: Option<&str>, database: &str) -> String {
        match password {
            Some(password) => format!("postgres://{user}:{password}@127.0.0.1:{}/{database}", self.port),
            None => format!("postgres://{user}@127.0.0.1:{}/{database}", self.port),
        }
    }

    /// For a cluster shared by a whole test process: a watchdog stops it once the process is gone.
    pub fn stop_when_process_exits(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {pg_ctl} -D {data} -m immediate stop; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.path().display(),
        );
        let mut watchdog = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", "sh", "-c", &script]);
            command
        } else {
            let mut command = Command::new("sh");
            command.args(["-c", &script]);
            command
        };
        watchdog
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        let _ = watchdog.spawn();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
