/** A BrokerEventHandler that records everything it is given and lets a test wait for it. */
import type { BrokerEventHandler, BrokerPublication, ControlMessage } from '../../src/realtime/broker.js'
import type { ClientInfo, StreamPosition } from '../../src/protocol/types.js'

export type BrokerEvent =
  | { kind: 'publication'; channel: string; pub: BrokerPublication; position: StreamPosition | null }
  | { kind: 'join' | 'leave'; channel: string; info: ClientInfo }
  | { kind: 'control'; message: ControlMessage }

export class RecordingHandler implements BrokerEventHandler {
  readonly events: BrokerEvent[] = []
  private readonly waiters = new Set<() => void>()

  handlePublication(channel: string, pub: BrokerPublication, position: StreamPosition | null): void {
    this.record({ kind: 'publication', channel, pub, position })
  }

  handleJoin(channel: string, info: ClientInfo): void {
    this.record({ kind: 'join', channel, info })
  }

  handleLeave(channel: string, info: ClientInfo): void {
    this.record({ kind: 'leave', channel, info })
  }

  handleControl(message: ControlMessage): void {
    this.record({ kind: 'control', message })
  }

  /** Events of one channel (publications, joins, leaves), in arrival order. */
  of(channel: string): BrokerEvent[] {
    return this.events.filter((e) => e.kind !== 'control' && e.channel === channel)
  }

  publications(channel: string): Array<{ pub: BrokerPublication; position: StreamPosition | null }> {
    return this.events.flatMap((e) => (e.kind === 'publication' && e.channel === channel ? [e] : []))
  }

  /** Resolves once `count` recorded events match, with those events; rejects after `timeoutMs`. */
  waitFor(match: (e: BrokerEvent) => boolean, count = 1, timeoutMs = 5_000): Promise<BrokerEvent[]> {
    const found = () => this.events.filter(match)
    return new Promise((resolve, reject) => {
      const check = () => {
        const events = found()
        if (events.length < count) return
        this.waiters.delete(check)
        clearTimeout(timer)
        resolve(events)
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`waited ${timeoutMs} ms for ${count} matching events, got ${found().length}`))
      }, timeoutMs)
      this.waiters.add(check)
      check()
    })
  }

  private record(event: BrokerEvent): void {
    this.events.push(event)
    for (const check of [...this.waiters]) check()
  }
}
