/**
 * A datagram AF_UNIX listener standing in for the Wazuh manager's queue socket
 * (/var/ossec/queue/sockets/queue). Node has no AF_UNIX datagram sockets, so a small python3
 * helper (queue_listener.py) binds the socket and prints each datagram as one JSON line.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import {fileURLToPath} from 'node:url'

const helperPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'queue_listener.py')

export interface QueueMessage {
  /** The whole datagram, e.g. `1:misp:{...}`. */
  raw: string
  bytes: number
  /** The queue type before the first ":" ("1" for LOCALFILE_MQ). */
  queueType: string
  /** The location with Wazuh's escapes ("|:" and "||") still in place. */
  location: string
  /** The text after the location: the JSON payload for integration results. */
  payload: string
}

export interface QueueListener {
  /** Socket path to give the integration. */
  path: string
  messages: QueueMessage[]
  /** Resolve with the messages once at least `count` arrived; reject after `timeoutMs`. */
  waitForMessages(count: number, timeoutMs?: number): Promise<QueueMessage[]>
  /** Forget the messages received so far. */
  clear(): void
  stop(): Promise<void>
}

/**
 * Split a queue datagram into type, location and payload. The location ends at the first ":" that
 * is not escaped as "|:" (an escaped "|" is "||").
 */
export function parseQueueMessage(raw: string, bytes: number): QueueMessage {
  const typeEnd = raw.indexOf(':')
  const queueType = raw.slice(0, typeEnd)
  let index = typeEnd + 1
  while (index < raw.length) {
    const character = raw[index]
    if (character === '|') {
      index += 2
      continue
    }
    if (character === ':') break
    index += 1
  }
  return {raw, bytes, queueType, location: raw.slice(typeEnd + 1, index), payload: raw.slice(index + 1)}
}

/** Bind a queue socket at `socketPath` (default: a new temporary directory) and collect messages. */
export async function startQueueListener(socketPath?: string): Promise<QueueListener> {
  const ownDirectory = socketPath === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'mispwazuh-queue-')) : undefined
  const listenPath = socketPath ?? path.join(ownDirectory as string, 'queue')
  const messages: QueueMessage[] = []
  const waiters = new Set<() => void>()

  const child: ChildProcess = spawn('python3', [helperPath, listenPath], {stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })

  const lines = readline.createInterface({input: child.stdout as NodeJS.ReadableStream})
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`queue listener exited with ${code} before it was ready: ${stderr.trim()}`))
    child.once('exit', onExit)
    lines.once('line', (line) => {
      child.off('exit', onExit)
      if ((JSON.parse(line) as {ready?: boolean}).ready === true) resolve()
      else reject(new Error(`queue listener sent an unexpected first line: ${line}`))
    })
  })

  lines.on('line', (line) => {
    const {data, bytes} = JSON.parse(line) as {data: string; bytes: number}
    messages.push(parseQueueMessage(data, bytes))
    for (const wake of waiters) wake()
  })

  return {
    path: listenPath,
    messages,
    clear() {
      messages.length = 0
    },
    waitForMessages(count, timeoutMs = 5000) {
      if (messages.length >= count) return Promise.resolve([...messages])
      return new Promise((resolve, reject) => {
        const wake = () => {
          if (messages.length < count) return
          clearTimeout(timer)
          waiters.delete(wake)
          resolve([...messages])
        }
        const timer = setTimeout(() => {
          waiters.delete(wake)
          reject(new Error(`expected ${count} queue messages within ${timeoutMs} ms, got ${messages.length}`))
        }, timeoutMs)
        waiters.add(wake)
      })
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      if (ownDirectory !== undefined) fs.rmSync(ownDirectory, {recursive: true, force: true})
      else fs.rmSync(listenPath, {force: true})
    },
  }
}
