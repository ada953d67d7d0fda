import type {VerifyFacts} from './facts.js'
import type {VerifyContext} from './types.js'

/**
 * Reads what was appended to a file since the last read and returns the complete lines that
 * contain one of the needles. Runs on the manager with its Python, so a busy alerts.json is
 * filtered where it lies and only matching lines cross the connection. A file that shrank
 * (rotated at midnight) is read again from its start.
 */
const FOLLOW = String.raw`
import json, os, sys
specs = json.load(sys.stdin)
limit = 8 * 1024 * 1024
out = []
for spec in specs:
    path, offset, needles = spec["file"], spec["offset"], [n.encode("utf-8") for n in spec["needles"]]
    try:
        size = os.path.getsize(path)
    except OSError:
        out.append({"offset": 0, "lines": [], "missing": True})
        continue
    if size < offset:
        offset = 0
    lines = []
    with open(path, "rb") as handle:
        handle.seek(offset)
        while True:
            chunk = handle.read(limit)
            if not chunk:
                break
            end = chunk.rfind(b"\n")
            if end < 0:
                break
            for line in chunk[:end].split(b"\n"):
                if any(needle in line for needle in needles):
                    lines.append(line.decode("utf-8", "replace"))
            offset += end + 1
            handle.seek(offset)
    out.append({"offset": offset, "lines": lines})
print(json.dumps(out))
`

export interface FollowedFile {
  file: string
  offset: number
  needles: string[]
}

export class LogFollower {
  private readonly files: FollowedFile[]

  constructor(private readonly context: VerifyContext, private readonly facts: VerifyFacts, files: ReadonlyArray<{file: string; needles: string[]}>) {
    this.files = files.map((entry) => ({file: entry.file, offset: -1, needles: entry.needles}))
  }

  /** Records the current end of every file, so later polls return only what comes after. */
  async start(): Promise<void> {
    const result = await this.context.target.exec(['sh', '-c', 'for f in "$@"; do if [ -f "$f" ]; then wc -c < "$f"; else echo 0; fi; done', 'sh', ...this.files.map((entry) => entry.file)])
    const sizes = result.stdout.trim().split('\n').map(Number)
    this.files.forEach((entry, index) => {
      entry.offset = sizes[index] ?? 0
    })
  }

  /** Adds a needle to a followed file, e.g. an alert id learnt from an earlier line. */
  addNeedle(file: string, needle: string): void {
    const entry = this.files.find((candidate) => candidate.file === file)
    if (entry && !entry.needles.includes(needle)) entry.needles.push(needle)
  }

  /** Returns the new matching lines per file since the last poll. */
  async poll(): Promise<Map<string, string[]>> {
    const python = await this.facts.python()
    const specs = this.files.map((entry) => ({file: entry.file, offset: Math.max(0, entry.offset), needles: entry.needles}))
    const result = await this.context.target.exec([python, '-c', FOLLOW], {stdin: JSON.stringify(specs), timeoutMs: 120_000})
    const answers = JSON.parse(result.stdout.trim()) as Array<{offset: number; lines: string[]}>
    const lines = new Map<string, string[]>()
    this.files.forEach((entry, index) => {
      const answer = answers[index]
      if (!answer) return
      entry.offset = answer.offset
      lines.set(entry.file, answer.lines)
    })
    return lines
  }
}
