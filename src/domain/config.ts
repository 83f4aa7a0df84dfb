/** Domain settings; src/main.ts fills them from the environment. Intervals are short in tests. */
export interface DomainConfig {
  /** A client without widget connections for this long goes offline (a page reload does not flap). */
  clientPresenceGraceMs: number
  /** A typing indicator lives this long unless renewed. */
  typingTtlMs: number
  /** Typing notices of one typist in one chat closer together than this are refused (rate_limited). */
  typingMinIntervalMs: number
  timerFirstAnswerSec: number
  timerNextAnswersSec: number
  /** No answer of the holder this long after the assignment: the session goes to another operator. 0: off. */
  firstAnswerTimeoutSec: number
  /** Once answered, a client message waiting this long for the next answer: the session goes to another operator. 0: off. */
  nextAnswerTimeoutSec: number
  /** A holder `offline` for this long (from its status change): its sessions go back to routing. 0: off. */
  reassignOfflineAfterMs: number
  /** No console of an `online` operator connected on any node for this long: `away` (auto). 0: off. */
  operatorAutoAwayAfterMs: number
  /** No console of an `online`/`away` operator connected for this long: `offline` (auto). 0: off. */
  operatorAutoOfflineAfterMs: number
  /** Lifetime of a minted operator token, and the longest an operator JWT may live (its `exp` − `iat`). */
  tokenTtlMs: number
  /**
   * How far an operator JWT issuer's clock may run ahead of ours: an `iat` further ahead is refused, and after a
   * revocation only JWTs with `iat` more than this after it are accepted (so none minted before it passes).
   */
  operatorJwtLeewayMs: number
  /** How often each node closes its operator connections whose token was revoked or whose operator was blocked. */
  revocationCheckMs: number
  /**
   * How old a revocation is before that check closes its connections: the revoking change's own events and
   * disconnect come first, so a console hears why (operatorBlocked, ...) before it is cut.
   */
  revocationGraceMs: number
  /** A widget (client) token unused for this long stops working; 0: never. */
  clientTokenIdleTtlMs: number
  defaultMaxChats: number
  /**
   * An operator's connection counts for routing while its node heartbeated within this long (heartbeats
   * every third of it); a node that dies takes its operators offline after at most this.
   */
  nodeTtlMs: number
  /** How often each node looks for due shared timers (typing expiry, client offline grace). */
  timerSweepMs: number
  /** How long an Idempotency-Key of a request that creates a client or an operator is remembered. */
  idempotencyWindowMs: number
  /** How long an answer waits for its events to reach the broker; past it they stay queued and go out later. */
  publishWaitMs: number
  /** How often each node's outbox relay looks for events left unpublished. */
  outboxRelayIntervalMs: number
  /** Published events stay in the outbox this long. */
  outboxRetentionMs: number
  /** HS256 secret of operator JWTs (`sub` = operator id); unset: only minted tokens are accepted. */
  operatorJwtSecret?: string
  /** Open sessions of clients from one IP address; a message that would open one more is refused (429). 0: no limit. */
  openSessionsPerIp: number
  /** Sessions opened by clients from one IP address per window; past it 429. `points` 0: no limit. */
  sessionsPerIp: { points: number; windowMs: number }
  /** A webhook attempt without a response (headers) within this fails and is retried. */
  webhookTimeoutMs: number
  /** The first retry of a webhook delivery waits about this long; each next one twice as long (with jitter). */
  webhookRetryBaseMs: number
  /** The longest wait between two attempts of a webhook delivery. */
  webhookRetryMaxDelayMs: number
  /** Attempts of one webhook delivery before it counts as failed and the next one is sent. */
  webhookMaxAttempts: number
  /** A webhook endpoint whose deliveries failed this many times in a row is disabled (re-enabled by the API). */
  webhookDisableAfter: number
  /** Webhook endpoints each node sends to at once (each endpoint's deliveries go one at a time, in event order). */
  webhookConcurrency: number
  /** How often each node looks for webhook deliveries due. */
  webhookPollIntervalMs: number
  /** Webhook deliveries and their log are kept this long (a delivery still owed then is dropped). */
  webhookLogRetentionMs: number
}

export const DEFAULT_DOMAIN_CONFIG: DomainConfig = {
  clientPresenceGraceMs: 10_000,
  typingTtlMs: 5_000,
  typingMinIntervalMs: 1_000,
  timerFirstAnswerSec: 60,
  timerNextAnswersSec: 120,
  firstAnswerTimeoutSec: 0,
  nextAnswerTimeoutSec: 0,
  reassignOfflineAfterMs: 60_000,
  operatorAutoAwayAfterMs: 60_000,
  operatorAutoOfflineAfterMs: 600_000,
  tokenTtlMs: 30 * 24 * 3600 * 1000,
  operatorJwtLeewayMs: 1_000,
  revocationCheckMs: 2_000,
  revocationGraceMs: 5_000,
  clientTokenIdleTtlMs: 30 * 24 * 3600 * 1000,
  defaultMaxChats: 5,
  nodeTtlMs: 15_000,
  timerSweepMs: 250,
  publishWaitMs: 1_000,
  idempotencyWindowMs: 24 * 3600 * 1000,
  outboxRelayIntervalMs: 1_000,
  outboxRetentionMs: 3_600_000,
  openSessionsPerIp: 3,
  sessionsPerIp: { points: 20, windowMs: 3_600_000 },
  webhookTimeoutMs: 10_000,
  webhookRetryBaseMs: 1_000,
  webhookRetryMaxDelayMs: 3_600_000,
  webhookMaxAttempts: 12,
  webhookDisableAfter: 5,
  webhookConcurrency: 8,
  webhookPollIntervalMs: 1_000,
  webhookLogRetentionMs: 7 * 24 * 3600 * 1000,
}

/** Longest message text in characters. */
export const MAX_TEXT = 10_000
