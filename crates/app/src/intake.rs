//! Group commit for intake on SQLite: reports that arrive while the single writer is busy are
//! written together in one transaction, so a burst costs one commit and one sync instead of one
//! per report. Every reporter still gets its answer only after its case is committed.
//! PostgreSQL writes in parallel on its own pool and does not need this.

use jinlin_store::cases::{CaseEffects, NewCase};
use jinlin_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most reports written in one transaction.
const BATCH: usize = 64;

type Job = (
    NewCase,
    CaseEffects,
    oneshot::Sender<Result<i64, StoreError>>,
);

/// The queue in front of the writer. Dropping every clone ends the writer task.
#[derive(Clone)]
pub struct IntakeQueue {
    tx: mpsc::Sender<Job>,
}

impl IntakeQueue {
    /// Starts the writer task (needs a Tokio runtime).
    pub fn start(store: Store) -> IntakeQueue {
        let (tx, rx) = mpsc::channel::<Job>(1024);
        tokio::spawn(writer(store, rx));
        IntakeQueue { tx }
    }

    /// Writes one case (with others waiting at the same time) and returns its id.
    pub async fn file(&self, case: NewCase, effects: CaseEffects) -> Result<i64, StoreError> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send((case, effects, done))
            .await
            .map_err(|_| StoreError::Unsupported("登记队列已关闭".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unsupported("登记队列已关闭".into()))?
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if jobs.len() == 1 {
            for (case, effects, done) in jobs {
                let _ = done.send(store.create_case(&case, &effects).await);
            }
            continue;
        }
        let (items, answers): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|(c, e, done)| ((c, e), done)).unzip();
        let refs: Vec<(&NewCase, &CaseEffects)> = items.iter().map(|(c, e)| (c, e)).collect();
        match store.create_cases(&refs).await {
            Ok(ids) => {
                for (done, id) in answers.into_iter().zip(ids) {
                    let _ = done.send(Ok(id));
                }
            }
            // One bad report must not sink the others: write them one by one.
            Err(_) => {
                for ((case, effects), done) in items.into_iter().zip(answers) {
                    let _ = done.send(store.create_case(&case, &effects).await);
                }
            }
        }
    }
}
