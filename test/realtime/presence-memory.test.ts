import { MemoryPresenceManager } from '../../src/realtime/presence-memory.js'
import { presenceContract } from './presence-contract.js'

presenceContract({ name: 'MemoryPresenceManager', newManager: () => new MemoryPresenceManager(), shared: false, expires: false })
