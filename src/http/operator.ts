// The loopback operator channel: only from 127.0.0.1/::1, only with the token from the server's lock file
// (readable by whoever may read DATA_DIR, i.e. whoever could open the database anyway).
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { Knex } from 'knex';
import { DirectoryError } from '../directory/errors.ts';
import { runOperatorCommand } from '../operations.ts';

const loopback = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function operatorRouter(db: Knex, token: string): Router {
  const router = Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    const given = /^Bearer (\S+)$/.exec(req.get('Authorization') ?? '')?.[1] ?? '';
    if (!loopback.has(req.socket.remoteAddress ?? '') || !sameSecret(given, token)) {
      res.status(404).type('application/problem+json').json({ type: 'about:blank', title: 'Not Found', status: 404 });
      return;
    }
    next();
  });
  router.post('/commands', express.json({ limit: '16kb' }), async (req: Request, res: Response, next: NextFunction) => {
    try {
      res.json(await runOperatorCommand(db, req.body));
    } catch (err) {
      if (err instanceof DirectoryError) {
        res.status(400).type('application/problem+json').json({ type: 'about:blank', title: 'Bad Request', status: 400, detail: err.message });
        return;
      }
      next(err);
    }
  });
  return router;
}
