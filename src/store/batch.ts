/**
 * Writes of one kind that arrive while the database is busy with earlier ones go together: at most `maxInFlight`
 * statements of the kind run at once, and what arrives meanwhile goes, when one of them ends, as one statement
 * (up to `maxBatch` items). A write that finds the database keeping up runs at once, alone: batching adds no wait,
 * it takes the round trips and per-statement work off a loaded database (an application-level group commit).
 */
export class Batcher<I, R> {
  private queue: Array<{ item: I; resolve: (r: R) => void; reject: (err: unknown) => void }> = []
  private inFlight = 0
  private gathering = false

  constructor(
    /** Writes the items in one statement; one result per item, in order. */
    private readonly write: (items: I[]) => Promise<R[]>,
    private readonly maxInFlight: number,
    private readonly maxBatch: number,
    /**
     * Writes wait for the end of the event-loop turn, so that what this turn read goes together. For a database
     * whose statements run on this thread (PGlite): nothing can arrive while one of them runs, so no batch forms else.
     */
    private readonly gatherTurn = false,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject })
      if (!this.gatherTurn) this.pump()
      else if (!this.gathering) {
        this.gathering = true
        setImmediate(() => {
          this.gathering = false
          this.pump()
        })
      }
    })
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch)
      this.inFlight++
      this.write(batch.map((b) => b.item))
        .then(
          (results) => batch.forEach((b, i) => b.resolve(results[i]!)),
          (err) => batch.forEach((b) => b.reject(err)),
        )
        .finally(() => {
          this.inFlight--
          this.pump()
        })
    }
  }
}
