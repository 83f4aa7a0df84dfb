/** A task run again `intervalMs` after each run ends (never two at once); a failed run is logged, not fatal. */
export class Periodic {
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private stopped = false

  constructor(
    private readonly task: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.task()
        .then(() => {}, this.onError)
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs).unref()
        })
    }
    this.timer = setTimeout(tick, this.intervalMs).unref()
  }

  /** No further runs; resolves once a run in progress has ended. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }
}
