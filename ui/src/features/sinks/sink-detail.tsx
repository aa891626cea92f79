/**
 * One sink: the On badge next to the heading when healthy, else the error summary below the
 * title (message, since when, last success); Paused when disabled; backlog and lag; Verify;
 * Enable/Disable; Replay a time range; dead letters; the set-up details; Delete at the bottom.
 */
import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useLocation, useNavigate, useParams } from 'react-router-dom';
import {
  deadLettersQuery,
  filledTemplate,
  getOperation,
  setupQuery,
  sinkBadge,
  sinkQuery,
  statusQuery,
  useDeleteSink,
  useReplayDeadLetters,
  useReplaySink,
  useUpdateSink,
  useVerifySink,
  type Sink,
} from './api';
import { Badge, Button, CopyButton, ErrorBox, Loading, TextField, downloadText, formatDuration, formatTime } from '../../components/ui';

function SetupDetails({ name }: { name: string }) {
  const setup = useQuery(setupQuery(name));
  if (setup.isPending) return <Loading what="set-up details" />;
  if (setup.isError) return <ErrorBox title="Set-up details unavailable" error={setup.error} />;
  const s = setup.data;
  if (s.kind === 'pubsub') {
    return (
      <>
        <p>
          auditstream publishes as <code>{s.service_account}</code>. Grant it these two roles:
        </p>
        <ol className="commands">
          {s.commands
            .filter((c) => c.required)
            .map((c, i) => (
              <li key={c.text}>
                <p>{c.purpose}</p>
                <pre>
                  <code>{c.text}</code>
                </pre>
                <CopyButton text={c.text} label={`Copy command ${i + 1}`} />
              </li>
            ))}
        </ol>
        {s.commands.some((c) => !c.required) && (
          <>
            <p>For your consumer (optional):</p>
            <ul className="commands optional-commands">
              {s.commands
                .filter((c) => !c.required)
                .map((c) => (
                  <li key={c.text}>
                    <p>{c.purpose}</p>
                    <pre>
                      <code>{c.text}</code>
                    </pre>
                    <CopyButton text={c.text} label="Copy optional command" />
                  </li>
                ))}
            </ul>
          </>
        )}
      </>
    );
  }
  return (
    <>
      <dl className="facts">
        <dt>ExternalId</dt>
        <dd>
          <code>{s.external_id}</code> <CopyButton text={s.external_id} label="Copy ExternalId" />
        </dd>
      </dl>
      <p>
        {s.quick_create_url ? (
          <a className="btn btn-secondary" href={s.quick_create_url} target="_blank" rel="noopener noreferrer">
            Launch stack (Auto)
          </a>
        ) : (
          <span className="muted">Auto is not available: the operator has not published the template (AUDITSTREAM_CFN_TEMPLATE_URL). </span>
        )}{' '}
        <Button variant="secondary" onClick={() => downloadText(s.template_file_name, filledTemplate(s), 'application/json')}>
          Download template (Manual)
        </Button>
      </p>
    </>
  );
}

function Replay({ name }: { name: string }) {
  const replay = useReplaySink();
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    replay.mutate({ name, since: new Date(since).toISOString(), ...(until ? { until: new Date(until).toISOString() } : {}) });
  };
  return (
    <form onSubmit={submit} className="inline-form">
      <TextField label="Replay from" type="datetime-local" step="1" required value={since} onChange={(e) => setSince(e.target.value)} />
      <TextField label="Replay until (empty: now)" type="datetime-local" step="1" value={until} onChange={(e) => setUntil(e.target.value)} />
      <Button type="submit" variant="secondary" disabled={!since || replay.isPending}>
        Replay
      </Button>
      {replay.isError && <ErrorBox title="Replay refused" error={replay.error} />}
      {replay.isSuccess && (
        <p role="status">
          Replay {replay.data.replay_id}: records {replay.data.from_seq}–{replay.data.to_seq} ({replay.data.state}).
        </p>
      )}
    </form>
  );
}

function DeadLetters({ name, count }: { name: string; count: number }) {
  const list = useQuery({ ...deadLettersQuery(name), enabled: count > 0 });
  const replay = useReplayDeadLetters();
  if (count === 0) return <p className="muted">No dead letters.</p>;
  return (
    <>
      {list.isPending && <Loading what="dead letters" />}
      {list.data && (
        <table>
          <caption className="sr-only">Dead letters</caption>
          <thead>
            <tr>
              <th scope="col">Sequence</th>
              <th scope="col">Log id</th>
              <th scope="col">Reason</th>
              <th scope="col">Since</th>
            </tr>
          </thead>
          <tbody>
            {list.data.dead_letters.map((d) => (
              <tr key={d.seq}>
                <td>{d.seq}</td>
                <td>
                  <code>{d.logId}</code>
                </td>
                <td>{d.reason}</td>
                <td>{formatTime(d.createdMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Button variant="secondary" onClick={() => replay.mutate(name)} disabled={replay.isPending}>
        Replay dead letters
      </Button>
      {replay.isError && <ErrorBox title="Replay refused" error={replay.error} />}
    </>
  );
}

function DeleteSink({ sink }: { sink: Sink }) {
  const del = useDeleteSink();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const [progress, setProgress] = useState<string | undefined>();
  const run = async () => {
    try {
      let op = await del.mutateAsync(sink);
      if (op.state === 'STATE_IN_PROGRESS') {
        setProgress(
          `The delete of ${sink.name} is still in progress: the process that delivered it must let go first (at most its lease time). Nothing more is sent meanwhile.`,
        );
        while (op.state === 'STATE_IN_PROGRESS') {
          await new Promise((r) => setTimeout(r, 1000));
          op = await getOperation(op.id);
        }
      }
      if (op.state !== 'STATE_FULFILLED') throw new Error(`the delete ended in ${op.state}${op.failureReason ? `: ${op.failureReason}` : ''}`);
      navigate('/settings/audit-logs', { state: { note: `Deleted ${sink.name}.` } });
    } catch (err) {
      setProgress(`Delete failed: ${(err as Error).message}`);
    }
  };
  return (
    <section className="danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete</h2>
      {!confirming ? (
        <Button variant="danger" onClick={() => setConfirming(true)}>
          Delete
        </Button>
      ) : (
        <div role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text" className="confirm">
          <h3 id="confirm-title">Delete audit log sink {sink.name}?</h3>
          <p id="confirm-text">Logs stop flowing to its destination once the delete completes. Records stay in auditstream.</p>
          <Button variant="danger" onClick={() => void run()} disabled={del.isPending || progress !== undefined} autoFocus>
            Delete {sink.name}
          </Button>{' '}
          <Button variant="secondary" onClick={() => setConfirming(false)} disabled={del.isPending}>
            Cancel
          </Button>
        </div>
      )}
      {del.isError && <ErrorBox title="Delete refused" error={del.error} />}
      {progress && <p role="status">{progress}</p>}
    </section>
  );
}

export default function SinkDetail() {
  const name = useParams().name ?? '';
  const location = useLocation();
  const note = (location.state as { note?: string } | null)?.note;
  const sink = useQuery(sinkQuery(name));
  const status = useQuery(statusQuery(name));
  const verify = useVerifySink();
  const update = useUpdateSink();
  if (sink.isPending) return <Loading what="sink" />;
  if (sink.isError)
    return (
      <main id="main" className="page">
        <h1>Audit Log Integration</h1>
        <ErrorBox title={`Sink ${name}`} error={sink.error} />
      </main>
    );
  const s = sink.data;
  const st = status.data;
  const badge = sinkBadge({ enabled: st?.enabled ?? s.spec.enabled, health: st?.health ?? s.health, state: st?.state ?? s.state });
  const kind = s.spec.kinesisSink ? 'AWS Kinesis' : 'GCP Pub/Sub';
  return (
    <main id="main" className="page">
      <p className="crumbs">
        <Link to="/settings">Settings</Link> / <Link to="/settings/audit-logs">Audit Logs</Link> / {s.name}
      </p>
      <div className="heading-row">
        <h1>Audit Log Integration: {s.name}</h1>
        <Badge tone={badge.tone}>{badge.label}</Badge>
      </div>
      {st && st.health !== 'ok' && (
        <div className="error-summary" role="alert">
          <p>
            <strong>Error:</strong> {st.errorMessage ?? 'delivery is failing'}
          </p>
          <p>
            Since {formatTime(st.errorSinceMs)} · last success {formatTime(st.lastSuccessMs)}
            {st.errorKind === 'user_configuration' ? ' · to fix in your cloud account (role, stream or permission)' : ''}
          </p>
        </div>
      )}
      {note && (
        <p role="status" className="note">
          {note}
        </p>
      )}
      <section aria-labelledby="dest-title">
        <h2 id="dest-title">Destination</h2>
        <dl className="facts">
          <dt>Type</dt>
          <dd>{kind}</dd>
          {s.spec.kinesisSink && (
            <>
              <dt>Kinesis ARN</dt>
              <dd>{s.spec.kinesisSink.destinationUri}</dd>
              <dt>Role name</dt>
              <dd>{s.spec.kinesisSink.roleName}</dd>
              <dt>Region</dt>
              <dd>{s.spec.kinesisSink.region}</dd>
            </>
          )}
          {s.spec.pubSubSink && (
            <>
              <dt>Service account</dt>
              <dd>{s.spec.pubSubSink.serviceAccountId}</dd>
              <dt>Topic</dt>
              <dd>{s.spec.pubSubSink.topicName}</dd>
              <dt>GCP project</dt>
              <dd>{s.spec.pubSubSink.gcpProjectId}</dd>
            </>
          )}
        </dl>
        <div className="actions">
          <Button onClick={() => verify.mutate(s.name)} disabled={verify.isPending}>
            Verify
          </Button>
          <Button variant="secondary" disabled={update.isPending} onClick={() => update.mutate({ sink: s, spec: { ...s.spec, enabled: !s.spec.enabled } })}>
            {s.spec.enabled ? 'Disable' : 'Enable'}
          </Button>
        </div>
        <div aria-live="polite" className="verify-result">
          {verify.isPending && 'Verifying…'}
          {verify.data?.status === 'Success' && <Badge tone="ok">Success</Badge>}
          {verify.data?.status === 'Failed' && (
            <span className="field-error">
              Failed ({verify.data.cause}): {verify.data.message}
            </span>
          )}
          {verify.isError && <ErrorBox title="Verify refused" error={verify.error} />}
        </div>
        {update.isError && <ErrorBox title="Not changed" error={update.error} />}
      </section>
      <section aria-labelledby="delivery-title">
        <h2 id="delivery-title">Delivery</h2>
        {status.isError && <ErrorBox title="Status unavailable" error={status.error} />}
        {st ? (
          <dl className="facts">
            <dt>Backlog</dt>
            <dd>{st.backlog} records</dd>
            <dt>Lag</dt>
            <dd>{formatDuration(st.lagMs)}</dd>
            <dt>Delivered</dt>
            <dd>{st.deliveredCount}</dd>
            <dt>Last success</dt>
            <dd>{formatTime(st.lastSuccessMs)}</dd>
            <dt>Expired undelivered</dt>
            <dd>{st.expiredUndelivered}</dd>
          </dl>
        ) : (
          !status.isError && <Loading what="status" />
        )}
      </section>
      <section aria-labelledby="replay-title">
        <h2 id="replay-title">Replay a time range</h2>
        <Replay name={s.name} />
      </section>
      <section aria-labelledby="dl-title">
        <h2 id="dl-title">Dead letters</h2>
        <DeadLetters name={s.name} count={st?.deadLetters ?? 0} />
      </section>
      <section aria-labelledby="setup-title">
        <h2 id="setup-title">Set-up</h2>
        <SetupDetails name={s.name} />
      </section>
      <DeleteSink sink={s} />
    </main>
  );
}
