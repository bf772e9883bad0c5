/// One step of the schema. Steps are applied in order, each once, and
/// recorded in `schema_version`. A released step is never edited: a change
/// is a new step.
public struct Migration: Sendable {
    public let version: Int
    public let summary: String
    /// DDL only — no values. Each statement is safe to run again
    /// (`IF NOT EXISTS`), so two `octo init` racing past the advisory lock
    /// still end with the same schema.
    public let statements: [String]
}

/// The schema octo knows. `Schema.latest` is the version this binary expects.
public enum Schema {
    public static var latest: Int { migrations.last!.version }

    /// The tables and sequences the latest schema has (a test checks this against a fresh `octo init`);
    /// `octo doctor` checks the worker's privileges on each.
    public static let objects = [
        "alert_sources", "alert_streams", "alerts", "audit", "cursor_epochs", "cursor_history", "cursors", "jobs",
        "login_failures", "logs", "machines", "markers", "open_starts", "queue", "run_counts", "run_needs", "runs",
        "schema_version", "settings", "users", "web_sessions"
    ]

    /// All tables use utf8mb4 with binary collation: names compare exactly as
    /// typed, and every Unicode text (emoji included) round-trips.
    static let table = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

    public static let migrations: [Migration] = [
        Migration(
            version: 1, summary: "machines, jobs, runs, queue, cursors, logs, alerts, settings",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS schema_version (
                  version     INT UNSIGNED NOT NULL PRIMARY KEY,
                  summary     VARCHAR(255) NOT NULL,
                  applied_at  DATETIME(6) NOT NULL,
                  applied_by  VARCHAR(64) NOT NULL
                ) \(table)
                """,
                """
                CREATE TABLE IF NOT EXISTS settings (
                  name        VARCHAR(64) NOT NULL PRIMARY KEY,
                  value       TEXT NOT NULL,
                  updated_at  DATETIME(6) NOT NULL,
                  updated_by  VARCHAR(128) NOT NULL
                ) \(table)
                """,
                // A machine: one row per name, refreshed by every `octo register`.
                """
                CREATE TABLE IF NOT EXISTS machines (
                  name          VARCHAR(64) NOT NULL PRIMARY KEY,
                  state         VARCHAR(16) NOT NULL DEFAULT 'active',
                  groups_list   VARCHAR(1024) NOT NULL DEFAULT '',
                  envs          VARCHAR(2048) NOT NULL DEFAULT '',
                  slots         INT UNSIGNED NOT NULL DEFAULT 1,
                  cpus          INT UNSIGNED NOT NULL DEFAULT 1,
                  load1         DOUBLE NOT NULL DEFAULT 0,
                  load5         DOUBLE NOT NULL DEFAULT 0,
                  load15        DOUBLE NOT NULL DEFAULT 0,
                  mem_total     BIGINT UNSIGNED NOT NULL DEFAULT 0,
                  mem_available BIGINT UNSIGNED NOT NULL DEFAULT 0,
                  unix_user     VARCHAR(64) NOT NULL DEFAULT '',
                  octo_version  VARCHAR(32) NOT NULL DEFAULT '',
                  first_seen    DATETIME(6) NOT NULL,
                  last_seen     DATETIME(6) NOT NULL,
                  KEY machines_live (state, last_seen)
                ) \(table)
                """,
                // A job: its definition and, in next_fire_at, where production stands.
                """
                CREATE TABLE IF NOT EXISTS jobs (
                  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                  name          VARCHAR(64) NOT NULL,
                  command       TEXT NOT NULL,
                  schedule      VARCHAR(255) NOT NULL DEFAULT '',
                  timezone      VARCHAR(64) NOT NULL DEFAULT '',
                  owner         VARCHAR(255) NOT NULL DEFAULT '',
                  run_user      VARCHAR(64) NOT NULL DEFAULT '',
                  target        VARCHAR(1024) NOT NULL DEFAULT 'any',
                  strategy      VARCHAR(16) NOT NULL DEFAULT 'any',
                  concurrency   VARCHAR(16) NOT NULL DEFAULT 'forbid',
                  max_parallel  INT UNSIGNED NOT NULL DEFAULT 1,
                  misfire       VARCHAR(16) NOT NULL DEFAULT 'once',
                  timeout_s     INT UNSIGNED NOT NULL DEFAULT 0,
                  retries       INT UNSIGNED NOT NULL DEFAULT 0,
                  retry_delay_s INT UNSIGNED NOT NULL DEFAULT 30,
                  ok_codes      VARCHAR(255) NOT NULL DEFAULT '0',
                  alert_level   VARCHAR(8) NOT NULL DEFAULT 'error',
                  alert_to      VARCHAR(1024) NOT NULL DEFAULT '',
                  paused        TINYINT(1) NOT NULL DEFAULT 0,
                  next_fire_at  DATETIME(6) NULL,
                  created_at    DATETIME(6) NOT NULL,
                  created_by    VARCHAR(128) NOT NULL,
                  updated_at    DATETIME(6) NOT NULL,
                  updated_by    VARCHAR(128) NOT NULL,
                  UNIQUE KEY jobs_name (name),
                  KEY jobs_due (paused, next_fire_at)
                ) \(table)
                """,
                // One row per attempt; history. UNIQUE(job, fire time, attempt)
                // makes enqueueing idempotent across any number of producers.
                """
                CREATE TABLE IF NOT EXISTS runs (
                  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                  job_id           BIGINT UNSIGNED NOT NULL,
                  job_name         VARCHAR(64) NOT NULL,
                  fire_time        DATETIME(6) NOT NULL,
                  attempt          INT UNSIGNED NOT NULL DEFAULT 1,
                  trigger_kind     VARCHAR(16) NOT NULL,
                  state            VARCHAR(16) NOT NULL,
                  reason           VARCHAR(255) NOT NULL DEFAULT '',
                  machine          VARCHAR(64) NULL,
                  queued_at        DATETIME(6) NOT NULL,
                  not_before       DATETIME(6) NOT NULL,
                  lease_token      CHAR(32) NULL,
                  lease_expires_at DATETIME(6) NULL,
                  pid              INT NULL,
                  cursor_in        TEXT NULL,
                  cursor_out       TEXT NULL,
                  exit_code        INT NULL,
                  exit_signal      INT NULL,
                  started_at       DATETIME(6) NULL,
                  ended_at         DATETIME(6) NULL,
                  UNIQUE KEY runs_fire (job_id, fire_time, attempt),
                  KEY runs_job_recent (job_name, id),
                  KEY runs_state (state, lease_expires_at),
                  KEY runs_ended (ended_at)
                ) \(table)
                """,
                // The hot path: only runs waiting to be claimed live here, so the
                // cost of a claim does not grow with history.
                """
                CREATE TABLE IF NOT EXISTS queue (
                  run_id      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
                  job_id      BIGINT UNSIGNED NOT NULL,
                  machine     VARCHAR(64) NULL,
                  not_before  DATETIME(6) NOT NULL,
                  KEY queue_ready (not_before),
                  KEY queue_machine (machine, not_before),
                  KEY queue_job (job_id)
                ) \(table)
                """,
                """
                CREATE TABLE IF NOT EXISTS cursors (
                  job_name     VARCHAR(64) NOT NULL PRIMARY KEY,
                  value        VARCHAR(1024) NOT NULL,
                  version      BIGINT UNSIGNED NOT NULL,
                  updated_at   DATETIME(6) NOT NULL,
                  updated_run  BIGINT UNSIGNED NULL,
                  updated_by   VARCHAR(64) NOT NULL
                ) \(table)
                """,
                """
                CREATE TABLE IF NOT EXISTS cursor_history (
                  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                  job_name    VARCHAR(64) NOT NULL,
                  value       VARCHAR(1024) NOT NULL,
                  version     BIGINT UNSIGNED NOT NULL,
                  run_id      BIGINT UNSIGNED NULL,
                  machine     VARCHAR(64) NOT NULL,
                  set_at      DATETIME(6) NOT NULL,
                  KEY cursor_history_job (job_name, id),
                  KEY cursor_history_set (set_at)
                ) \(table)
                """,
                // Partitioned by day: retention is DROP PARTITION. The partition
                // column is in every unique key; p_future catches anything beyond
                // the last day partition, so an insert is never refused.
                // (stream_id, seq) identifies a line from one logger, so a spool
                // replay after an unacknowledged insert stores it exactly once.
                """
                CREATE TABLE IF NOT EXISTS logs (
                  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
                  logged_at   DATETIME(6) NOT NULL,
                  job_name    VARCHAR(64) NOT NULL,
                  run_id      BIGINT UNSIGNED NULL,
                  machine     VARCHAR(64) NOT NULL,
                  level       VARCHAR(8) NOT NULL,
                  code        SMALLINT UNSIGNED NULL,
                  content     MEDIUMTEXT NOT NULL,
                  truncated   TINYINT(1) NOT NULL DEFAULT 0,
                  stream_id   BIGINT UNSIGNED NOT NULL,
                  seq         BIGINT UNSIGNED NOT NULL,
                  PRIMARY KEY (id, logged_at),
                  UNIQUE KEY logs_line (stream_id, seq, logged_at),
                  KEY logs_job_time (job_name, logged_at),
                  KEY logs_run (run_id)
                ) \(table)
                PARTITION BY RANGE COLUMNS (logged_at) (
                  PARTITION p_past VALUES LESS THAN ('2000-01-01'),
                  PARTITION p_future VALUES LESS THAN (MAXVALUE)
                )
                """,
                """
                CREATE TABLE IF NOT EXISTS alerts (
                  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                  kind            VARCHAR(32) NOT NULL,
                  job_name        VARCHAR(64) NOT NULL DEFAULT '',
                  run_id          BIGINT UNSIGNED NULL,
                  machine         VARCHAR(64) NULL,
                  first_at        DATETIME(6) NOT NULL,
                  last_at         DATETIME(6) NOT NULL,
                  occurrences     INT UNSIGNED NOT NULL DEFAULT 1,
                  first_line      TEXT NOT NULL,
                  last_line       TEXT NOT NULL,
                  state           VARCHAR(16) NOT NULL DEFAULT 'pending',
                  attempts        INT UNSIGNED NOT NULL DEFAULT 0,
                  claim_token     CHAR(32) NULL,
                  claim_expires_at DATETIME(6) NULL,
                  next_attempt_at DATETIME(6) NOT NULL,
                  sent_at         DATETIME(6) NULL,
                  last_error      VARCHAR(1024) NOT NULL DEFAULT '',
                  KEY alerts_due (state, next_attempt_at),
                  KEY alerts_job (job_name, kind, first_at)
                ) \(table)
                """,
                // Where incremental sweeps stopped (e.g. the last log id the monitor scanned).
                """
                CREATE TABLE IF NOT EXISTS markers (
                  name        VARCHAR(64) NOT NULL PRIMARY KEY,
                  value       BIGINT UNSIGNED NOT NULL,
                  updated_at  DATETIME(6) NOT NULL
                ) \(table)
                """
            ]),
        Migration(
            version: 2, summary: "machines remember given flags apart from detected environments",
            statements: [
                // envs holds what `--env` gave (remembered); envs_detected what octo found on PATH.
                // slots_given: 1 when --slots was given, else slots follows the CPU count.
                "ALTER TABLE machines ADD COLUMN IF NOT EXISTS envs_detected VARCHAR(2048) NOT NULL DEFAULT '' AFTER envs",
                "ALTER TABLE machines ADD COLUMN IF NOT EXISTS slots_given TINYINT(1) NOT NULL DEFAULT 0 AFTER slots"
            ]),
        Migration(
            version: 3, summary: "queue routing and claims: broadcast runs, eligibility on queue rows, forced runs",
            statements: [
                // route_key: the machine of a broadcast (`strategy all`) run, '' otherwise; one run per
                // (job, fire time, attempt, route_key). cursor_given: the cursor was chosen by `octo sh run --cursor`.
                "ALTER TABLE runs ADD COLUMN IF NOT EXISTS route_key VARCHAR(64) NOT NULL DEFAULT '' AFTER attempt",
                "ALTER TABLE runs ADD COLUMN IF NOT EXISTS cursor_given TINYINT(1) NOT NULL DEFAULT 0 AFTER cursor_in",
                "ALTER TABLE runs ADD COLUMN IF NOT EXISTS forced TINYINT(1) NOT NULL DEFAULT 0 AFTER trigger_kind",
                "ALTER TABLE runs DROP INDEX IF EXISTS runs_fire, ADD UNIQUE KEY runs_fire (job_id, fire_time, attempt, route_key)",
                // concurrency checks count a job's queued and running runs through this index, not its history
                "ALTER TABLE runs ADD KEY IF NOT EXISTS runs_job_state (job_id, state)",
                // eligibility of an unassigned run, copied from its job (and refreshed when the job is edited),
                // so that a claim reads the queue table alone
                "ALTER TABLE queue ADD COLUMN IF NOT EXISTS run_user VARCHAR(64) NOT NULL DEFAULT '' AFTER machine",
                "ALTER TABLE queue ADD COLUMN IF NOT EXISTS target VARCHAR(1024) NOT NULL DEFAULT 'any' AFTER run_user",
                "ALTER TABLE queue ADD COLUMN IF NOT EXISTS forced TINYINT(1) NOT NULL DEFAULT 0 AFTER target"
            ]),
        Migration(
            version: 4, summary: "monitor: merged alerts, detected occurrences, open start lines",
            statements: [
                // summary: a follow-up counting the repeats of a merge window; recovered: a failure alert answered by a success
                """
                ALTER TABLE alerts ADD COLUMN IF NOT EXISTS summary TINYINT(1) NOT NULL DEFAULT 0 AFTER occurrences,
                  ADD COLUMN IF NOT EXISTS recovered TINYINT(1) NOT NULL DEFAULT 0 AFTER summary,
                  ADD KEY IF NOT EXISTS alerts_open (recovered, kind)
                """,
                // one row per (job, kind) — `@machine` instead of a job for a machine's alerts: the merge window in progress and its summary alert (locked while recording)
                """
                CREATE TABLE IF NOT EXISTS alert_streams (
                  job_name     VARCHAR(72) NOT NULL,
                  kind         VARCHAR(32) NOT NULL,
                  window_start DATETIME(6) NULL,
                  summary_id   BIGINT UNSIGNED NULL,
                  PRIMARY KEY (job_name, kind)
                ) \(table)
                """,
                // what became an alert already ('run:12', 'missed:3:…'): one alert per occurrence, however many monitors
                """
                CREATE TABLE IF NOT EXISTS alert_sources (
                  source      VARCHAR(191) NOT NULL PRIMARY KEY,
                  created_at  DATETIME(6) NOT NULL,
                  KEY alert_sources_created (created_at)
                ) \(table)
                """,
                // `100 start` lines outside runs (octo logger -- CMD, other programs) waiting for their `120 end`
                """
                CREATE TABLE IF NOT EXISTS open_starts (
                  log_id      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
                  stream_id   BIGINT UNSIGNED NOT NULL,
                  job_name    VARCHAR(64) NOT NULL,
                  machine     VARCHAR(64) NOT NULL,
                  started_at  DATETIME(6) NOT NULL,
                  deadline    DATETIME(6) NOT NULL,
                  content     TEXT NOT NULL,
                  KEY open_starts_stream (stream_id, job_name),
                  KEY open_starts_deadline (deadline)
                ) \(table)
                """,
                // the monitor scans log lines written from now on (not the history of an upgraded database)
                "INSERT IGNORE INTO markers (name, value, updated_at) SELECT 'log_scanned', COALESCE(MAX(id), 0), NOW(6) FROM logs",
                "INSERT IGNORE INTO markers (name, value, updated_at) SELECT 'log_horizon', COALESCE(MAX(id), 0), NOW(6) FROM logs"
            ]),
        Migration(
            version: 5, summary: "cursors: versions ordered by claim, how each value arrived",
            statements: [
                // Each claim (and each manual `octo cursor set`) takes the next epoch; a cursor version is
                // epoch << 24 | the set's number within the run, so a later run's values always win (see CursorVersion).
                "CREATE SEQUENCE IF NOT EXISTS cursor_epochs START WITH 1 INCREMENT BY 1 CACHE 1000",
                "ALTER TABLE runs ADD COLUMN IF NOT EXISTS cursor_epoch BIGINT UNSIGNED NULL AFTER cursor_given",
                // via: 'run' (set inside a run), 'end' (pushed by the supervisor at the end), 'sync', 'manual'
                "ALTER TABLE cursor_history ADD COLUMN IF NOT EXISTS via VARCHAR(8) NOT NULL DEFAULT 'run' AFTER machine"
            ]),
        Migration(
            version: 6,
            summary: "concurrency per series; cancelled runs hold their job back until their process group is gone",
            statements: [
                // a claim counts a job's running runs and its stopping ones (cancelled, lease not yet released):
                // (job_id, state, lease_expires_at) reads the latter as a range, not the job's cancelled history;
                // it starts with the columns of runs_job_state, which it replaces
                "ALTER TABLE runs ADD KEY IF NOT EXISTS runs_job_live (job_id, state, lease_expires_at)",
                "ALTER TABLE runs DROP INDEX IF EXISTS runs_job_state",
                // the run's route key, so that a claim counts a broadcast job's runs per machine from the queue row
                "ALTER TABLE queue ADD COLUMN IF NOT EXISTS route_key VARCHAR(64) NOT NULL DEFAULT '' AFTER machine",
                "UPDATE queue q JOIN runs r ON r.id = q.run_id SET q.route_key = r.route_key WHERE r.route_key <> ''"
            ]),
        Migration(
            version: 7, summary: "warn_after: a run still running after it raises one slow alert",
            statements: [
                "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS warn_after_s BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER timeout_s"
            ]),
        Migration(
            version: 8, summary: "audit trail; run counters that outlive run history (metrics)",
            statements: [
                // one row per change a person made, written in the change's transaction (Audit, AuditStore)
                """
                CREATE TABLE IF NOT EXISTS audit (
                  id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                  at        DATETIME(6) NOT NULL,
                  actor     VARCHAR(192) NOT NULL,
                  action    VARCHAR(24) NOT NULL,
                  job_name  VARCHAR(64) NULL,
                  run_id    BIGINT UNSIGNED NULL,
                  subject   VARCHAR(128) NOT NULL DEFAULT '',
                  changes   MEDIUMTEXT NOT NULL,
                  KEY audit_at (at),
                  KEY audit_job (job_name, id)
                ) \(table)
                """,
                // ended runs counted per job, final state and duration bucket, in the transaction that ends
                // each run: the metrics' counters and histogram, which purging `runs` must not lower (RunCounts)
                """
                CREATE TABLE IF NOT EXISTS run_counts (
                  job_name  VARCHAR(64) NOT NULL,
                  state     VARCHAR(16) NOT NULL,
                  bucket    TINYINT NOT NULL,
                  runs      BIGINT UNSIGNED NOT NULL,
                  seconds   DOUBLE NOT NULL,
                  last_ended_at DATETIME(6) NULL,
                  PRIMARY KEY (job_name, state, bucket)
                ) \(table)
                """
            ]),
        Migration(
            version: 9, summary: "dependencies: needs, waiting and passed runs, logical dates",
            statements: [
                // comma list of the jobs this one needs, in the given order (a job without a schedule follows its first)
                "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS needs VARCHAR(2048) NOT NULL DEFAULT '' AFTER schedule",
                // the calendar date of the fire time in the job's zone, YYYY-MM-DD ('' on runs from before schema 9)
                """
                ALTER TABLE runs ADD COLUMN IF NOT EXISTS logical_date CHAR(10) NOT NULL DEFAULT '' AFTER fire_time,
                  ADD KEY IF NOT EXISTS runs_job_date (job_id, logical_date)
                """,
                // what a waiting run waits for, one row each: kind 0, a run of upstream_id for fire_time that succeeded
                // or was passed, with an id of at least min_run_id (a rerun's downstream waits for the new run); kind 1,
                // run min_run_id ended, however (backfill's --max-parallel). met: seen so; found by upstream and fire
                // time when a run ends, so readiness is checked only for the runs an end concerns (NeedsStore)
                """
                CREATE TABLE IF NOT EXISTS run_needs (
                  run_id        BIGINT UNSIGNED NOT NULL,
                  upstream_id   BIGINT UNSIGNED NOT NULL,
                  upstream_name VARCHAR(64) NOT NULL,
                  fire_time     DATETIME(6) NOT NULL,
                  kind          TINYINT UNSIGNED NOT NULL DEFAULT 0,
                  min_run_id    BIGINT UNSIGNED NOT NULL DEFAULT 0,
                  met           TINYINT(1) NOT NULL DEFAULT 0,
                  PRIMARY KEY (run_id, upstream_id, fire_time, kind),
                  KEY run_needs_upstream (upstream_id, fire_time)
                ) \(table)
                """,
                // locked by every change to the jobs' graph (add, edit, rm, apply), so two changes that each close half
                // of a cycle are checked one after the other
                "INSERT IGNORE INTO markers (name, value, updated_at) VALUES ('needs_graph', 0, NOW(6))"
            ]),
        Migration(
            version: 10, summary: "dashboard accounts: users, sessions, failed logins",
            statements: [
                // password_hash: scrypt$N$r$p$salt$hash (base64), never the password
                """
                CREATE TABLE IF NOT EXISTS users (
                  name           VARCHAR(64) NOT NULL PRIMARY KEY,
                  role           VARCHAR(16) NOT NULL,
                  password_hash  VARCHAR(255) NOT NULL,
                  created_at     DATETIME(6) NOT NULL,
                  updated_at     DATETIME(6) NOT NULL
                ) \(table)
                """,
                // a session is a random 256-bit token in the browser's cookie; only its SHA-256 is stored
                """
                CREATE TABLE IF NOT EXISTS web_sessions (
                  token_hash  CHAR(64) NOT NULL PRIMARY KEY,
                  user_name   VARCHAR(64) NOT NULL,
                  csrf        CHAR(64) NOT NULL,
                  created_at  DATETIME(6) NOT NULL,
                  expires_at  DATETIME(6) NOT NULL,
                  KEY web_sessions_user (user_name),
                  KEY web_sessions_expiry (expires_at)
                ) \(table)
                """,
                // one row per failed login, by the name tried: the rate limit counts the recent ones
                """
                CREATE TABLE IF NOT EXISTS login_failures (
                  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                  user_name  VARCHAR(64) NOT NULL,
                  at         DATETIME(6) NOT NULL,
                  KEY login_failures_name (user_name, at)
                ) \(table)
                """
            ])
    ]
}
