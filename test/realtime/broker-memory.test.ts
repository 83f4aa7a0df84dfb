import { MemoryBroker } from '../../src/realtime/broker-memory.js'
import { brokerContract } from './broker-contract.js'

brokerContract({ name: 'MemoryBroker', newBroker: () => new MemoryBroker(), shared: false })
