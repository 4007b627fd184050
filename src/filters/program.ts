// An external filter program (section 4.2): argv[1] the content file, argv[2] the envelope file.
import { runProgram } from '../process/run-program';
import type { Filter, FilterContext } from './filter';
import { fail, programResult } from './result';

export function programFilter(program: string, ctx: FilterContext): Filter {
  return {
    name: program,
    async run(input) {
      ctx.log.debug({ id: input.id, side: ctx.side, routing: input.routing || undefined, filter: program }, 'filter running');
      const r = await runProgram(program, [input.contentPath, input.envelopePath], ctx.timeoutMs);
      if (r.timedOut) return fail('error', 'timeout');
      if (r.execError) return fail('rejected', r.execError);
      return programResult(r.exitCode, r.output, ctx.side, `exit code ${r.exitCode}`);
    },
  };
}
