-- Fast takeover: each worker holds a session-level advisory lock on a connection of its own for as
-- long as it lives, and records that session's backend pid here. PostgreSQL drops the lock the moment
-- the session ends (process killed, machine gone, connection terminated), so a live worker sees in
-- pg_locks within seconds that the holder is gone — instead of waiting for its heartbeat to go stale.
-- NULL: the worker has no such session (a version without it, or between reconnects); only the
-- heartbeat bound then applies.
ALTER TABLE workers ADD COLUMN session_pid integer;
