// The "Redis" part of the `npm run bench` section: the figures of issue 19 against their goals, then
// the ones read from the server (round trips, a waiting request's commands, memory per session).
import { ratioInterval as intervalOf, verdict } from './stats.mjs';

const ms = (v) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
const commandList = (counts) =>
  Object.entries(counts)
    .map(([command, n]) => `${command.toUpperCase()} ${n}`)
    .join(', ');
const perRequest = (row) => `${Number(row.perRequest.toFixed(2))}${row.perRequest > 0 ? ` (${commandList(row.commands)})` : ''}`;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;

export function redisReport(results) {
  const r = results.redis;
  // The default binding's rows; the guard binding's (`binding: 'guard'`) are shown beside them.
  const throughput = (request, binding, shape = 'bare') =>
    results.throughput?.find((t) => t.store === 'redis' && t.request === request && t.binding === binding && (t.shape ?? 'bare') === shape);
  const handoff = (setup) => results.handoff?.find((h) => h.setup === setup);
  const lost = results.lostUpdates?.find((l) => l.store === 'redis');
  if (!r && !throughput('POST /counter') && !handoff('2 instances, one Redis') && !results.crossHandoff) return [];
  const trips = (who, kind) => r?.roundTrips[who].find((row) => row.kind === kind)?.perRequest;
  const redis2 = handoff('2 instances, one Redis');
  const dynamo2 = handoff('2 instances, one DynamoDB Local table');
  const post = throughput('POST /counter');
  const get = throughput('GET /counter');
  const guardPost = throughput('POST /counter', 'guard');
  const guardGet = throughput('GET /counter', 'guard');
  // Both apps with one global interceptor, the default binding (results before this shape was measured on Redis have none).
  const shapedPost = throughput('POST /counter', undefined, 'interceptor');
  const shapedGet = throughput('GET /counter', undefined, 'interceptor');
  const yes = (ok) => (ok ? 'yes' : '**no**');
  // A throughput goal is judged on the interval of its median ratio (stats.mjs), when the run kept its rounds.
  const interval = (t) => {
    const i = intervalOf(t);
    return i ? `; interval of the ratio ${i[0].toFixed(2)}–${i[1].toFixed(2)}` : '';
  };
  const ratioVerdict = (t) => (intervalOf(t) ? verdict(intervalOf(t), 1) : yes(t.ratio >= 1));

  const crossRedis = results.crossHandoff?.find((h) => h.setup === '2 instances, one Redis');
  const crossDynamo = results.crossHandoff?.find((h) => h.setup === '2 instances, one DynamoDB Local table');
  const goals = [
    ...(crossRedis
      ? [
          `| hand-off across instances, each hand-off from one instance to the other (between handlers, median; p90) | **${ms(crossRedis.medianMs)} ms**; ${ms(crossRedis.p90Ms)} ms | ` +
            `${crossDynamo ? `DynamoDB Local by polling, same run: ${ms(crossDynamo.medianMs)} ms; ${ms(crossDynamo.p90Ms)} ms` : '–'}; ASP.NET's poll: 500 ms | ≤ 2 ms | ${yes(crossRedis.medianMs <= 2)} |`,
        ]
      : []),
    ...(redis2
      ? [
          `| hand-off, 20 concurrent requests sent alternately to two instances (client; between handlers) | **${ms(redis2.handoffMs)} ms**; ${ms(redis2.serverGapMs)} ms | ` +
            `${dynamo2 ? `DynamoDB Local, same run: ${ms(dynamo2.handoffMs)} ms; ${ms(dynamo2.serverGapMs)} ms` : '–'} | – | – |`,
        ]
      : []),
    ...(r
      ? [
          `| round trips per request: read-write, read-only, no session | **${trips('ours', 'read-write')}, ${trips('ours', 'read-only')}, ${trips('ours', 'no session')}** | ` +
            `connect-redis: ${trips('peer', 'read-write')}, ${trips('peer', 'read-only')}, ${trips('peer', 'no session')} | 2, 1, 0 | ` +
            `${yes(trips('ours', 'read-write') === 2 && trips('ours', 'read-only') === 1 && trips('ours', 'no session') === 0)} |`,
        ]
      : []),
    ...[post, get, guardPost, guardGet, shapedPost, shapedGet]
      .filter(Boolean)
      .map(
        (t) =>
          `| \`${t.request}\` req/s, ours${t.binding === 'guard' ? ' bound by `@UseGuards(SessionStateGuard)`' : ''}${(t.shape ?? 'bare') === 'interceptor' ? ', both apps with one global interceptor' : ''} / peer (CPU ratio) | ` +
          `**${t.ratio.toFixed(2)}×** (${t.cpuRatio?.toFixed(2) ?? '–'}×) | ` +
          `${Math.round(t.ours.rps)} against ${Math.round(t.peer.rps)} req/s${interval(t)} | ≥ 1.0× | ${ratioVerdict(t)} |`,
      ),
    ...(lost ? [`| lost updates of 50 concurrent increments | **${lost.ours}** | connect-redis: ${lost.peer} | 0 | ${yes(lost.ours === 0)} |`] : []),
  ];

  const parts = [
    '',
    '### Redis',
    '',
    `One \`redis-server\`${r?.version ? ` ${r.version}` : ''} that the bench starts on a free port (\`--save '' --appendonly no\`), both sides on it: ` +
      'ours `RedisSessionStateStore` (a client it makes from the URL, default options: release notifications on), the peer ' +
      'express-session + connect-redis 11 on a node-redis client, wired as connect-redis documents. Their throughput, lost ' +
      'updates and hand-offs are in the tables above (rows "Redis"); the goals of issue 19:',
    '',
    '| figure | ours | against | goal | reached |',
    '|---|---:|---|---|---|',
    ...goals,
  ];

  if (crossRedis) {
    const c = results.method.crossHandoff;
    parts.push(
      '',
      '#### Hand-off across instances',
      '',
      `Two instances on one store; each sends ${c.perInstance} \`POST /counter/work?delayMs=${c.workMs}\` on one session one after ` +
        `another (its next once its previous answered), both at once, ${c.rounds} rounds: while one instance's request works, the ` +
        "other's waits at the store. The figure is the gap from one handler's end to the next one's start (the probe app's " +
        "clock; the instances run on one machine) when the next ran on the other instance: the holder's save and release, the " +
        "waiter's wake-up (Redis: the release's `SPUBLISH`; DynamoDB: its next poll), its lock, and both requests' Nest work. " +
        "Within an instance the lock is handed over in the holder's save (first table above), so the hand-offs across instances " +
        'are those where the other instance got the lock first.' +
        (r?.pingMs === undefined ? '' : ` One Redis round trip (\`PING\` from the bench, one at a time): ${ms(r.pingMs)} ms`) +
        (r?.pingAfterIdleMs === undefined
          ? r?.pingMs === undefined
            ? ''
            : '.'
          : `; after ${c.workMs} ms of idle, as the waiter and Redis sit through the holder's work: ${ms(r.pingAfterIdleMs)} ms ` +
            '(waking an idle process on this machine; a hand-off wakes Redis for the save, then the waiter for the release).'),
      '',
      '| setup | hand-offs across instances / all | median ms | p90 ms | worst round (median) ms |',
      '|---|---:|---:|---:|---:|',
      ...results.crossHandoff.map(
        (h) => `| ${h.setup} | ${h.crossHandoffs} / ${h.handoffs} | **${ms(h.medianMs)}** | ${ms(h.p90Ms)} | ${ms(h.worstRoundMs)} |`,
      ),
    );
  }

  if (r) {
    parts.push(
      '',
      '#### Round trips per request, counted by the server',
      '',
      "The commands the app's connections sent (MONITOR; a Lua script's own commands are not round trips, one `EVALSHA` is one), " +
        '20 sequential requests on one session after one of the same kind that is not counted (the first run of a script on a ' +
        'server costs one more round trip, once: `EVALSHA` answered `NOSCRIPT`, then `EVAL`). `GET /ping` carries the session cookie; ' +
        'a new session is a `POST /counter` without one.',
      '',
      '| request | ours per request | connect-redis per request |',
      '|---|---|---|',
      ...r.roundTrips.ours.map((row, i) => `| ${row.kind}: \`${row.request}\` | ${perRequest(row)} | ${perRequest(r.roundTrips.peer[i])} |`),
      '',
      'express-session loads the session on every request that carries its cookie, whatever the route, and writes it back ' +
        '(`SET`) or slides its TTL (`EXPIRE`, `touch`). Ours slides a read-only session without a write until half its timeout has ' +
        'passed (then one more script, `resetItemTimeout`), and a route without `@Session()` never calls the store.',
    );
  }

  if (r?.waiting?.length) {
    parts.push(
      '',
      '#### What a waiting request costs',
      '',
      "One instance holds a session's lock for 6 s (`POST /counter/work?delayMs=6000`); a request of the same session on a second " +
        "instance waits for it. Counted by the server (MONITOR): the commands the waiting instance's connections sent from its " +
        "first command to the holder's release, over the whole wait and from its second second on; and how long after the " +
        "release (the holder's command, server clock) the waiter's next command came (its lock). **Wake-up**: the default; " +
        "the waiter subscribes to the session's channel (`SSUBSCRIBE`, on the store's one subscriber connection, opened at " +
        "its first wait: one `HELLO` per process) and checks the lock itself (a probe: one script reading the lock's small " +
        'fields) after each fallback pause of 0.5–1 s. **Polling only**: ' +
        "`releaseNotifications: false`, a probe per poll on the module's `lockWait` schedule (5 ms doubling to 50 ms, jittered).",
      '',
      "| mode | wait s | commands | per second | per second after the first | commands | waiter's lock after the release |",
      '|---|---:|---:|---:|---:|---|---:|',
      ...r.waiting.map(
        (w) =>
          `| ${w.mode} | ${w.waitS.toFixed(1)} | ${w.commands} | **${w.perSecond.toFixed(1)}** | ${w.perSecondAfterFirst.toFixed(1)} | ` +
          `${commandList(w.byCommand)} | ${ms(w.wakeMs)} ms |`,
      ),
    );
  }

  if (r?.memory?.length) {
    parts.push(
      '',
      '#### Redis memory per session',
      '',
      "`MEMORY USAGE` (`SAMPLES 0`) of every key a new session's `PUT /notes?kb=N` added (the keys before and after it, by " +
        '`SCAN`), median of 3 sessions. The notes are random hex, which gzip halves: ours compresses serialized items above 8 KB ' +
        "(option `compression`), connect-redis stores JSON as is; its value also holds the cookie's settings.",
      '',
      '| session | ours | connect-redis | ours / connect-redis |',
      '|---|---:|---:|---:|',
      ...r.memory.map(
        (m) =>
          `| ${m.kb} KB of notes | ${kb(m.ours.bytes)} (${m.ours.keys} key${m.ours.keys === 1 ? '' : 's'}) | ${kb(m.peer.bytes)} ` +
          `(${m.peer.keys} key${m.peer.keys === 1 ? '' : 's'}) | ${(m.ours.bytes / m.peer.bytes).toFixed(2)} |`,
      ),
    );
  }
  return parts;
}
