/** Every migration in order; an applied migration is never edited, a change is a new file. */
import { sql as chat } from './001_chat.js'
import { sql as operatorPresence } from './002_operator_presence.js'
import { sql as outbox } from './003_outbox.js'
import { sql as sharedTimers } from './004_shared_timers.js'
import { sql as tokenLifetime } from './005_token_lifetime.js'
import { sql as ipLimits } from './006_ip_limits.js'
import { sql as availabilityGroups } from './007_availability_groups.js'
import { sql as sessionMoves } from './008_session_moves.js'
import { sql as internalNotes } from './009_internal_notes.js'
import { sql as cannedReplies } from './010_canned_replies.js'
import { sql as attachments } from './011_attachments.js'
import { sql as webhooks } from './013_webhooks.js'
import { sql as satisfaction } from './012_satisfaction.js'
import { sql as messageSearch } from './014_message_search.js'
import { sql as mapState } from './015_map_state.js'
import { sql as outboxWatermark } from './016_outbox_watermark.js'
import { sql as searchIndexFastupdate } from './017_search_index_fastupdate.js'
import { sql as operatorOpenSessions } from './018_operator_open_sessions.js'
import { sql as statisticsNotPlannedFrom } from './019_statistics_not_planned_from.js'
import { sql as messageReads } from './020_message_reads.js'

export interface Migration {
  id: number
  name: string
  sql: string
}

export const MIGRATIONS: Migration[] = [
  { id: 1, name: 'chat', sql: chat },
  { id: 2, name: 'operator_presence', sql: operatorPresence },
  { id: 3, name: 'outbox', sql: outbox },
  { id: 4, name: 'shared_timers', sql: sharedTimers },
  { id: 5, name: 'token_lifetime', sql: tokenLifetime },
  { id: 6, name: 'ip_limits', sql: ipLimits },
  { id: 7, name: 'availability_groups', sql: availabilityGroups },
  { id: 8, name: 'session_moves', sql: sessionMoves },
  { id: 9, name: 'internal_notes', sql: internalNotes },
  { id: 10, name: 'canned_replies', sql: cannedReplies },
  { id: 11, name: 'attachments', sql: attachments },
  { id: 12, name: 'satisfaction', sql: satisfaction },
  { id: 13, name: 'webhooks', sql: webhooks },
  { id: 14, name: 'message_search', sql: messageSearch },
  { id: 15, name: 'map_state', sql: mapState },
  { id: 16, name: 'outbox_watermark', sql: outboxWatermark },
  { id: 17, name: 'search_index_fastupdate', sql: searchIndexFastupdate },
  { id: 18, name: 'operator_open_sessions', sql: operatorOpenSessions },
  { id: 19, name: 'statistics_not_planned_from', sql: statisticsNotPlannedFrom },
  { id: 20, name: 'message_reads', sql: messageReads },
]
