//! The one writer: every write of this process goes through one connection on a thread
//! of its own, and the writes waiting when it is free are committed together.
//!
//! SQLite takes one writer at a time. With each write on its own pooled connection,
//! concurrent writers met at the database's lock and slept in its busy handler (1, 2,
//! 5, … 100 ms): registrations at a few hundred a second had a p99 of 70–200 ms. Here
//! writes queue in memory instead, and one `BEGIN IMMEDIATE … COMMIT` carries as many
//! of them as arrived meanwhile (group commit), each in a savepoint of its own: a write
//! that fails is rolled back alone and the others still commit, and every caller is
//! answered only once its write is durable (or failed, with nothing of it written).
//! Other processes on the same file still meet the lock, and wait for it.
//!
//! A write's closure runs inside the group's transaction: it must not begin one of its
//! own (it is given a `&Connection`, on which rusqlite cannot).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StoreError;

/// Writes committed together at most: a group's latency stays that of a few hundred
/// small statements.
const MAX_GROUP: usize = 256;

/// A write waiting for the writer.
trait Pending: Send {
    /// Runs the write, in a savepoint of its own unless it is `alone` in its group
    /// (then the group's rollback is its own); its outcome waits for the commit.
    fn run(self: Box<Self>, conn: &Connection, alone: bool) -> Box<dyn Ran>;
    /// Answers without running: the group's transaction could not begin.
    fn refuse(self: Box<Self>, why: &str);
}

/// A write that ran, waiting for its group's commit.
trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// Answers the caller: the group committed (`None`) or was rolled back (`Some`).
    fn answer(self: Box<Self>, rolled_back: Option<&str>);
}

struct Write<T, F> {
    f: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

struct Outcome<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection, alone: bool) -> Box<dyn Ran> {
        let Write { f, reply } = *self;
        let result = if alone { caught(|| f(conn)) } else { in_savepoint(conn, f) };
        Box::new(Outcome { result, reply })
    }

    fn refuse(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(failed(why)));
    }
}

impl<T: Send> Ran for Outcome<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, rolled_back: Option<&str>) {
        let result = match (self.result, rolled_back) {
            (Ok(_), Some(why)) => Err(failed(why)),
            (result, _) => result,
        };
        // The caller may have gone (its request was cancelled): the write stands anyway.
        let _ = self.reply.send(result);
    }
}

/// Runs `f` between `SAVEPOINT` and `RELEASE`, or rolls back to the savepoint when it
/// fails or panics.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
    conn.prepare_cached("SAVEPOINT write")?.execute([])?;
    let result = caught(|| f(conn));
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO write")?.execute([])?;
    }
    conn.prepare_cached("RELEASE write")?.execute([])?;
    result
}

/// `f`'s result, or an error if it panicked.
fn caught<T>(f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(StoreError::backend(GroupFailed("the write panicked".to_owned()))))
}

/// Why a write that ran failed anyway: its group was rolled back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct GroupFailed(String);

fn failed(why: &str) -> StoreError {
    StoreError::backend(GroupFailed(why.to_owned()))
}

/// The handle to the writer thread; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Pending>>,
}

impl Writer {
    /// Starts the writer on `conn`.
    pub(crate) fn start(conn: Connection) -> Result<Self, StoreError> {
        let (queue, waiting) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || write_all(conn, waiting))
            .map_err(StoreError::backend)?;
        Ok(Self { queue })
    }

    /// Queues `f` and waits until it is committed (or failed, with nothing written).
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Box::new(Write { f, reply })).map_err(|_| failed("the database's writer has stopped"))?;
        answer.await.map_err(|_| failed("the database's writer stopped before answering"))?
    }
}

/// The writer thread: takes every write waiting, commits them as one transaction, repeats.
fn write_all(conn: Connection, waiting: mpsc::Receiver<Box<dyn Pending>>) {
    while let Ok(first) = waiting.recv() {
        let mut group = VecDeque::from([first]);
        while group.len() < MAX_GROUP {
            match waiting.try_recv() {
                Ok(next) => group.push_back(next),
                Err(_) => break,
            }
        }
        commit(&conn, group);
    }
}

/// Commits `group` in one transaction, answering every write. Should SQLite end the
/// transaction itself midway (it rolls back on some errors, such as a full disk), the
/// writes that ran in it are answered as failed and the rest go on in a new one.
fn commit(conn: &Connection, mut group: VecDeque<Box<dyn Pending>>) {
    while !group.is_empty() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let why = format!("cannot begin a write: {e}");
            group.drain(..).for_each(|w| w.refuse(&why));
            return;
        }
        let mut ran: Vec<Box<dyn Ran>> = Vec::with_capacity(group.len());
        let mut lost = false;
        let alone = group.len() == 1;
        while let Some(write) = group.pop_front() {
            ran.push(write.run(conn, alone));
            if conn.is_autocommit() {
                lost = true;
                break;
            }
        }
        let outcome = if lost {
            Err("the database rolled the write back".to_owned())
        } else if ran.iter().any(|r| r.succeeded()) {
            conn.execute_batch("COMMIT").map_err(|e| {
                // A failed COMMIT can leave the transaction open; nothing of it is kept.
                let _ = conn.execute_batch("ROLLBACK");
                format!("cannot commit: {e}")
            })
        } else {
            // Nothing to keep: every write failed and was rolled back to its savepoint.
            conn.execute_batch("ROLLBACK").map_err(|e| format!("cannot roll back: {e}"))
        };
        let rolled_back = outcome.as_ref().err().map(String::as_str);
        ran.into_iter().for_each(|r| r.answer(rolled_back));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::Connection;

    use super::Writer;
    use crate::StoreError;

    fn database(dir: &tempfile::TempDir) -> (Connection, Connection) {
        let path = dir.path().join("w.db");
        let setup = Connection::open(&path).unwrap();
        setup.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY)").unwrap();
        (setup, Connection::open(&path).unwrap())
    }

    fn rows(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        stmt.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// Writes 1..=8 at once behind a slow first write (so they wait and commit as one
    /// group), `n == 5` failing after its insert, and `n == 6` panicking after its insert.
    async fn a_group(writer: &Writer) -> Vec<Result<(), StoreError>> {
        let slow = writer.clone();
        let first = tokio::spawn(async move {
            slow.write(|conn| {
                std::thread::sleep(Duration::from_millis(200));
                conn.execute("INSERT INTO t VALUES (0)", [])?;
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rest: Vec<_> = (1..=8)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |conn| {
                            conn.execute("INSERT INTO t VALUES (?1)", [n])?;
                            match n {
                                5 => Err(StoreError::conflict(crate::ConflictKind::Moved, "five is refused")),
                                6 => panic!("six panics"),
                                _ => Ok(()),
                            }
                        })
                        .await
                })
            })
            .collect();
        let mut outcomes = vec![first.await.unwrap()];
        for task in rest {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    #[tokio::test]
    async fn a_failed_or_panicking_write_is_rolled_back_alone_and_the_rest_of_its_group_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (check, conn) = database(&dir);
        let writer = Writer::start(conn).unwrap();

        let outcomes = a_group(&writer).await;

        let failed: Vec<usize> = (0..outcomes.len()).filter(|&i| outcomes[i].is_err()).collect();
        assert_eq!(failed, vec![5, 6], "{outcomes:?}");
        assert!(matches!(outcomes[5], Err(StoreError::Conflict(_))), "its own error: {:?}", outcomes[5]);
        assert_eq!(rows(&check), vec![0, 1, 2, 3, 4, 7, 8]);
    }

    #[tokio::test]
    async fn a_write_alone_in_its_group_that_fails_after_writing_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (check, conn) = database(&dir);
        let writer = Writer::start(conn).unwrap();
        let failed = writer
            .write(|conn| {
                conn.execute("INSERT INTO t VALUES (1)", [])?;
                Err::<(), _>(StoreError::conflict(crate::ConflictKind::Moved, "refused after writing"))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
        writer.write(|conn| Ok(conn.execute("INSERT INTO t VALUES (2)", [])?)).await.unwrap();
        assert_eq!(rows(&check), vec![2]);
    }

    #[tokio::test]
    async fn writes_waiting_together_commit_as_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut conn) = database(&dir);
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = commits.clone();
        conn.commit_hook(Some(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            false
        }))
        .unwrap();
        let writer = Writer::start(conn).unwrap();

        a_group(&writer).await;

        // The slow first write alone, then the eight that waited behind it.
        assert_eq!(commits.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn when_a_group_cannot_commit_every_write_of_it_fails_and_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (check, mut conn) = database(&dir);
        // Every commit is turned into a rollback, as a crash at that moment would lose it.
        conn.commit_hook(Some(|| true)).unwrap();
        let writer = Writer::start(conn).unwrap();

        let outcomes = a_group(&writer).await;

        assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
        assert!(rows(&check).is_empty());
    }
}
