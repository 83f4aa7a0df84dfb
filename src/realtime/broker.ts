/** The broker contract: how publications, join/leave and node-to-node control travel between nodes. */
import type { ClientInfo, StreamPosition } from '../protocol/types.js'
import type { ServerSubscriptionOptions } from './hooks.js'
import type { NodeInfo } from './node-registry.js'
import type { SurveyMessage } from './survey.js'

/** A publication as brokers carry it: `data` is the raw JSON text, serialised once by the publisher. */
export interface BrokerPublication {
  data: string
  offset?: number
  info?: ClientInfo
  tags?: Record<string, string>
}

export interface PublishOptions {
  /** Publications kept per channel; 0 turns history off (no offsets, no recovery). */
  historySize: number
  /** How long publications stay in history, in ms. */
  historyTtlMs: number
  /** How long the stream's epoch and top offset live without publications, in ms. */
  historyMetaTtlMs: number
  /**
   * Centrifugo's `idempotency_key`: a second publish with the same key to the same channel within
   * `idempotentResultTtlMs` publishes nothing and returns the first one's position.
   */
  idempotencyKey?: string
  /** @default 300_000 (Centrifugo's five minutes) */
  idempotentResultTtlMs?: number
  /**
   * Centrifugo's `UseDelta`: with history on, the broker hands the channel's previous publication to every node's
   * `handlePublication` with this one, so delta subscribers get a delta against it.
   */
  useDelta?: boolean
  /**
   * Centrifugo's `version` (with history on): a publication whose version is not above the channel's last one
   * publishes nothing and answers the current top, unless `versionEpoch` differs from the last one's (a reset source).
   */
  version?: number
  versionEpoch?: string
}

export const DEFAULT_IDEMPOTENT_RESULT_TTL_MS = 300_000

export interface HistoryOptions {
  since?: StreamPosition
  /** 0: only the position; -1: no limit. */
  limit: number
  reverse?: boolean
  historyMetaTtlMs: number
}

export interface HistoryResult {
  publications: BrokerPublication[]
  position: StreamPosition
}

/** Node-to-node commands: each node applies them to its own connections. */
export type ControlMessage =
  | { type: 'disconnect'; user: string; client?: string; session?: string; except?: string[]; code: number; reason: string }
  | { type: 'subscribe'; user: string; client?: string; session?: string; channel: string; data?: unknown; options?: ServerSubscriptionOptions }
  | { type: 'unsubscribe'; user: string; client?: string; session?: string; channel: string }
  /** A node's info, every `nodeInfoIntervalMs` (node-registry.ts): the server API's `info` lists the cluster. */
  | { type: 'node'; info: NodeInfo }
  /** Questions to every node and their answers (survey.ts): the server API's `channels` across the cluster. */
  | SurveyMessage
  | { type: 'refresh'; user: string; client?: string; session?: string; expireAt?: number; expired?: boolean; /** New connection info (`conn_info`). */ info?: unknown }
  | { type: 'message'; user: string; client?: string; data: string }
  /** Commands for an emulated session: only the node named `node` applies them (centrifuge emulation.go). */
  | { type: 'emulation'; node: string; session: string; data: string; /** `data` is base64 of a protobuf Commands frame. */ binary?: true }

/** Called by the broker for traffic from any node, this one included. */
export interface BrokerEventHandler {
  /** `prev`: the channel's previous publication, for a publication made with `useDelta` (absent when unknown). */
  handlePublication(channel: string, pub: BrokerPublication, position: StreamPosition | null, prev?: BrokerPublication): void
  handleJoin(channel: string, info: ClientInfo): void
  handleLeave(channel: string, info: ClientInfo): void
  handleControl(message: ControlMessage): void
}

/**
 * A broker. `publish` saves to history and fans out atomically per channel, so publications of one
 * channel reach every node in offset order. Handlers are called in the order the broker received them.
 */
export interface Broker {
  run(handler: BrokerEventHandler): Promise<void>
  /** Starts delivering the channel's traffic to this node; called on the channel's first local subscriber. */
  subscribe(channel: string): Promise<void>
  unsubscribe(channel: string): Promise<void>
  /** Returns the new stream position, or null when history is off for the channel. */
  publish(channel: string, pub: BrokerPublication, opts: PublishOptions): Promise<StreamPosition | null>
  publishJoin(channel: string, info: ClientInfo): Promise<void>
  publishLeave(channel: string, info: ClientInfo): Promise<void>
  publishControl(message: ControlMessage): Promise<void>
  history(channel: string, opts: HistoryOptions): Promise<HistoryResult>
  removeHistory(channel: string): Promise<void>
  close(): Promise<void>
}
