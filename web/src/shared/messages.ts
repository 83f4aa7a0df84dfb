import type { Message } from './types.js'

/**
 * A message as the page should keep it when another copy of it arrives. A message only moves forward (read once,
 * edited later), but its copies may arrive out of that order: the answer to our own POST can come after the
 * read receipt that the other side's event brought. So the read time, once known, stays, and the text is the
 * latest edit's.
 */
export function mergeMessage(known: Message | undefined, incoming: Message): Message {
  if (!known) return incoming
  const newerEdit = known.editedAt !== null && (incoming.editedAt === null || known.editedAt > incoming.editedAt)
  const merged = newerEdit ? { ...incoming, text: known.text, editedAt: known.editedAt } : incoming
  return merged.readAt === null && known.readAt !== null ? { ...merged, readAt: known.readAt } : merged
}
