package sender

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/internal/batch"
)

// pipelinedScripts is a Redis client whose script calls (EVAL, EVALSHA and their read-only
// forms) from concurrent goroutines share round trips: the calls that arrive while one
// pipeline is in flight go in the next. The Limiter's scripts, redis_rate's GCRA among
// them, run once or twice per message, so a worker sending thousands of messages a second
// would otherwise spend a round trip on each. Every other command goes straight to the
// client.
type pipelinedScripts struct {
	redis.UniversalClient
	calls *batch.Batcher[scriptCall, scriptResult]
}

type scriptCall struct {
	eval func(ctx context.Context, p redis.Pipeliner) *redis.Cmd
}

type scriptResult struct {
	val any
	err error
}

func newPipelinedScripts(rdb redis.UniversalClient) *pipelinedScripts {
	p := &pipelinedScripts{UniversalClient: rdb}
	p.calls = batch.New(p.run, batch.Options{MaxSize: 512, Timeout: 30 * time.Second})
	return p
}

func (p *pipelinedScripts) run(ctx context.Context, calls []scriptCall) ([]batch.Result[scriptResult], error) {
	pipe := p.UniversalClient.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = c.eval(ctx, pipe)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error (NOSCRIPT, redis.Nil, …)
	out := make([]batch.Result[scriptResult], len(calls))
	for i, cmd := range cmds {
		out[i].Value = scriptResult{val: cmd.Val(), err: cmd.Err()}
	}
	return out, nil
}

func (p *pipelinedScripts) do(ctx context.Context, eval func(context.Context, redis.Pipeliner) *redis.Cmd) *redis.Cmd {
	r, err := p.calls.Do(ctx, scriptCall{eval: eval})
	if err != nil {
		return redis.NewCmdResult(nil, err)
	}
	return redis.NewCmdResult(r.val, r.err)
}

func (p *pipelinedScripts) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.do(ctx, func(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
		return pipe.Eval(ctx, script, keys, args...)
	})
}

func (p *pipelinedScripts) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.do(ctx, func(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
		return pipe.EvalSha(ctx, sha1, keys, args...)
	})
}

func (p *pipelinedScripts) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.do(ctx, func(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
		return pipe.EvalRO(ctx, script, keys, args...)
	})
}

func (p *pipelinedScripts) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.do(ctx, func(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
		return pipe.EvalShaRO(ctx, sha1, keys, args...)
	})
}
