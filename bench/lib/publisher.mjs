/** The one publish loop every contender uses: a fixed-rate tick that publishes timestamped payloads round-robin over channels. */

/** Wall clock in ms shared by processes on one host (the performance.md §9 clock rule). */
export const now = () => performance.timeOrigin + performance.now()

/** Builds a payload factory whose JSON encoding is `bytes` long (±2) for a `{t,s,p}` object. */
export function payloadFactory(bytes) {
  const probe = JSON.stringify({ t: now(), s: 1_000_000, p: '' }).length
  const padding = 'x'.repeat(Math.max(0, bytes - probe))
  return (seq, t = now()) => ({ t, s: seq, p: padding })
}

/**
 * Publishes `rate` publications per second, spread round-robin over `channels`, on a `tickMs` tick.
 * `publish(channel, data)` may return a promise; rejections are counted, not thrown.
 * Returns `stop()`, which resolves with what was published per channel.
 */
export function startPublisher({ rate, channels, payloadBytes, publish, tickMs = 5 }) {
  const makePayload = payloadFactory(payloadBytes)
  const seq = new Map(channels.map((c) => [c, 0]))
  const perChannel = Object.fromEntries(channels.map((c) => [c, 0]))
  let published = 0
  let errors = 0
  let firstError
  let next = 0
  const started = performance.now()
  const onError = (err) => {
    errors++
    firstError ??= String(err?.message ?? err)
  }
  const tick = () => {
    // Every publication of a tick is stamped with the tick's start: they became due together. Stamping each at
    // its own call would credit a server that writes inside publish (B1, B2) with its later publications' wait.
    const t = now()
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - published
    for (let i = 0; i < due; i++) {
      const channel = channels[next]
      next = next + 1 === channels.length ? 0 : next + 1
      const s = seq.get(channel) + 1
      seq.set(channel, s)
      perChannel[channel]++
      published++
      try {
        const r = publish(channel, makePayload(s, t))
        if (r && typeof r.catch === 'function') r.catch(onError)
      } catch (err) {
        onError(err)
      }
    }
  }
  const timer = rate > 0 ? setInterval(tick, tickMs) : undefined
  return {
    stop() {
      clearInterval(timer)
      const elapsedMs = performance.now() - started
      return { published, perChannel, errors, firstError, elapsedMs, achievedRate: (published * 1000) / elapsedMs }
    },
  }
}
