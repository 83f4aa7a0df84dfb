/** TypeBox schemas of /api/v1: requests are validated with them and responses serialised; OpenAPI is built from them. */
import { Type, type TSchema } from 'typebox'

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])
const Id = Type.String({ minLength: 1, maxLength: 200 })
const Time = Type.String({ description: 'ISO 8601 UTC' })
const Text = Type.String({ minLength: 1, maxLength: 10_000 })
/** Request objects are closed: a field the API does not know is a 400 naming it, never stored. */
const Closed = { additionalProperties: false } as const

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'snake_case: bad_request, unauthorized, token_expired, forbidden, not_found, conflict, payload_too_large, unsupported_media_type, rate_limited' }),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: 'the input field at fault (400)' })),
    }),
  },
  { $id: 'Error' },
)

export const Operator = Type.Object({
  id: Type.String(),
  name: Type.String(),
  maxChats: Type.Integer(),
  blocked: Type.Boolean(),
  blockedReason: Nullable(Type.String()),
  online: Type.Boolean({ description: 'has at least one live connection' }),
  openSessions: Type.Integer(),
  createdAt: Time,
  status: Type.String({ description: 'online (takes new chats), away (keeps its chats, takes none) or offline (takes none)' }),
  statusAuto: Type.Boolean({ description: 'the status was set by the auto-away timers, not by a person' }),
  role: Type.String({ description: 'operator or supervisor' }),
  groups: Type.Array(Type.String(), { description: 'ids of its groups' }),
})
/** `role` on POST/PATCH /operators (API key). */
export const Role = Type.Union([Type.Literal('operator'), Type.Literal('supervisor')], { description: 'a supervisor sees every session and status (operators:supervisors)' })
/** A group named by its id or its name; an unknown one is a 400 naming the field. */
export const GroupRef = Type.String({ minLength: 1, maxLength: 200, description: 'group id or name: the session is routed to its members only' })

const CoordinatesProps = {
  city: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  latitude: Type.Optional(Nullable(Type.Number({ minimum: -90, maximum: 90 }))),
  zip_code: Type.Optional(Nullable(Type.String({ maxLength: 50 }))),
  longitude: Type.Optional(Nullable(Type.Number({ minimum: -180, maximum: 180 }))),
  time_zone: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  region_name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  country_code: Type.Optional(Nullable(Type.String({ maxLength: 10 }))),
  country_name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
}
/** The fields of events.md's `coordinates`, each checked; no other field is accepted or stored. */
export const Coordinates = Type.Object(CoordinatesProps, Closed)

export const Client = Type.Object({
  id: Type.String(),
  chatId: Type.String(),
  name: Type.String(),
  externalId: Nullable(Type.String()),
  channel: Type.String(),
  messengerType: Nullable(Type.String()),
  whatsappPhone: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  referer: Nullable(Type.String()),
  coordinates: Nullable(Coordinates),
  banned: Type.Boolean(),
  online: Type.Boolean(),
  onlineAt: Nullable(Time),
  offlineAt: Nullable(Time),
  createdAt: Time,
})
export const ClientWithToken = Type.Intersect([Client, Type.Object({ token: Type.String({ description: 'the client token (widget connect and /widget/*); shown once' }) })])

export const Message = Type.Object({
  id: Type.String(),
  chatId: Type.String(),
  sessionId: Type.String(),
  text: Type.String(),
  author: Type.Object({
    type: Type.Union([Type.Literal('client'), Type.Literal('operator'), Type.Literal('bot'), Type.Literal('system')]),
    id: Nullable(Type.String()),
    name: Nullable(Type.String()),
  }),
  createdAt: Time,
  editedAt: Nullable(Time),
  readAt: Nullable(Time),
  attachments: Type.Array(Type.Object({ url: Type.String(), name: Type.String(), mimeType: Type.String(), size: Type.Number() })),
  internal: Type.Optional(Type.Literal(true, { description: 'an internal note: operators and supervisors only' })),
})

/** The client's rating of a closed session (issue 16). */
export const SessionRating = Type.Object({
  score: Type.Integer({ minimum: 1, maximum: 5 }),
  comment: Nullable(Type.String()),
  ratedAt: Time,
}, { description: "the client's satisfaction rating; null until it rates the closed session" })

export const ChatSession = Type.Object(
  {
    id: Type.String(),
    chatId: Type.String(),
    clientId: Nullable(Type.String()),
    name: Type.String(),
    markedAsSpam: Type.Boolean(),
    operatorId: Type.Union([Type.String(), Type.Number(), Type.Null()]),
    operatorType: Type.Optional(Type.String()),
    channel: Type.String(),
    botStatus: Type.Optional(Nullable(Type.String({ description: 'BOT, HELP (waiting for people) or OPERATOR' }))),
    status: Type.String({ description: 'bot, queued, assigned or closed' }),
    startedAt: Time,
    closedAt: Type.Optional(Nullable(Time)),
    clientOnline: Type.Optional(Type.Boolean()),
    clientOnlineAt: Type.Optional(Nullable(Time)),
    clientOfflineAt: Type.Optional(Nullable(Time)),
    lastMessageCreatedAt: Nullable(Time),
    lastMessage: Type.Optional(Nullable(Message)),
    clientExternalId: Type.Optional(Nullable(Type.String())),
    clientBanned: Type.Optional(Nullable(Type.Boolean())),
    referer: Type.Optional(Type.String()),
    clientIp: Type.Optional(Nullable(Type.String())),
    coordinates: Type.Optional(Nullable(Coordinates)),
    unreadClientMessageCount: Type.Optional(Nullable(Type.Integer())),
    unreadClientMessageExists: Type.Optional(Nullable(Type.Boolean())),
    messengerType: Type.Optional(Nullable(Type.String())),
    whatsappPhone: Type.Optional(Nullable(Type.String())),
    timerFirstAnswer: Type.Optional(Type.Integer()),
    timerNextAnswers: Type.Optional(Type.Integer()),
    lastOperatorMessage: Type.Optional(Nullable(Message)),
    firstClientMessageAfterLastOperatorMessage: Type.Optional(Nullable(Message)),
    operatorAssignedAt: Nullable(Time),
    previousOperator: Type.Optional(Nullable(Type.Object({ id: Type.Optional(Nullable(Type.String())), name: Type.Optional(Nullable(Type.String())) }))),
    groupId: Type.Optional(Nullable(Type.String({ description: 'the group it is routed in; null: any operator' }))),
    groupClosed: Type.Optional(Type.Boolean({ description: 'queued outside its group\'s working hours with no fallback: waits until they open' })),
    rating: Type.Optional(Nullable(SessionRating)),
  },
)

export const Page = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String({ description: 'pass as cursor/before for the next page' })) })

export const IdParams = Type.Object({ id: Id }, Closed)
export const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
}

export const NewOperator = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  maxChats: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  role: Type.Optional(Role),
}, Closed)
export const OperatorPatch = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  maxChats: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  role: Type.Optional(Role),
}, Closed)
export const NewLogin = Type.Object({
  userAgent: Type.Optional(Type.String({ maxLength: 500, description: 'of the new login, shown to the earlier ones in chatUserExists' })),
  ip: Type.Optional(Type.String({ maxLength: 100 })),
}, Closed)
export const Login = Type.Object({ token: Type.String(), expiresAt: Time })
export const Reason = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, Closed)

export const NewClient = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  externalId: Type.Optional(Type.String({ maxLength: 200 })),
  channel: Type.Optional(Type.String({ minLength: 1, maxLength: 50, description: 'widget (default), telegram, whatsapp, ...' })),
  messengerType: Type.Optional(Type.String({ maxLength: 50 })),
  whatsappPhone: Type.Optional(Type.String({ maxLength: 50 })),
  ip: Type.Optional(Type.String({ maxLength: 100 })),
  referer: Type.Optional(Type.String({ maxLength: 2000 })),
  coordinates: Type.Optional(Coordinates),
  group: Type.Optional(GroupRef),
}, Closed)
export const NewWidgetClient = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), group: Type.Optional(GroupRef) }, Closed)
export const WidgetLogin = Type.Object({ client: Client, token: Type.String() })

export const ClientMessage = Type.Object({
  text: Text,
  mode: Type.Optional(Type.Union([Type.Literal('operator'), Type.Literal('bot')], { description: 'who gets a new session (default operator)' })),
  group: Type.Optional(GroupRef),
}, Closed)
export const TextBody = Type.Object({ text: Text }, Closed)
/** Ids of uploads (POST …/attachments) the message carries; with at least one, `text` may be left out. */
const AttachmentIds = Type.Array(Id, { minItems: 1, maxItems: 10, description: 'ids of files uploaded to this chat and not sent yet; text becomes optional' })
export const SessionMessage = Type.Object({ text: Type.Optional(Text), internal: Type.Optional(Type.Boolean({ description: 'true: an internal note (operator token only)' })), attachments: Type.Optional(AttachmentIds) }, Closed)
export const WidgetMessage = Type.Object({ text: Type.Optional(Text), group: Type.Optional(GroupRef), attachments: Type.Optional(AttachmentIds) }, Closed)
/** An upload's answer: the attachment as messages carry it, and the id a message request names it by. */
export const UploadedAttachment = Type.Object({ id: Type.String(), url: Type.String(), name: Type.String(), mimeType: Type.String(), size: Type.Integer() })
/**
 * Requests that create something may carry an idempotency key (checked in api-v1.ts, which names the header on
 * error). The one open object: a request carries many other headers.
 */
export const IdempotentHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ maxLength: 255, description: 'a retry with the same key returns the first answer and creates nothing (1–255 visible ASCII characters)' }),
  ),
})
export const TypingBody = Type.Object({ text: Type.Optional(Nullable(Type.String({ maxLength: 1000, description: 'draft preview' }))) }, Closed)
export const TypingAccepted = Type.Object({ until: Nullable(Time) })
export const ReadBody = Type.Object({ messageId: Id }, Closed)
export const ReadResult = Type.Object({
  chatId: Type.Optional(Type.String()),
  sessionId: Type.Optional(Type.String()),
  messageIds: Type.Array(Type.String()),
  readAt: Time,
})
export const PresenceBody = Type.Object({ online: Type.Boolean() }, Closed)

export const SessionsQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('queued'), Type.Literal('assigned'), Type.Literal('closed')])),
  cursor: Type.Optional(Id),
  ...Paging,
}, Closed)
export const MessagesQuery = Type.Object({ before: Type.Optional(Id), ...Paging }, Closed)
export const OperatorsQuery = Type.Object({ cursor: Type.Optional(Id), ...Paging }, Closed)
export const WidgetMessages = Type.Intersect([Page(Message), Type.Object({ session: Nullable(Type.Object({ id: Type.String(), status: Type.String(), rating: Type.Optional(Nullable(SessionRating)) })) })])
