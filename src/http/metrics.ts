// Prometheus metrics: process defaults plus request counts and latency by route, on a registry of our own.
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  function middleware(req: Request, res: Response, next: NextFunction) {
    const end = duration.startTimer();
    res.on('finish', () => {
      // The matched route pattern, never the raw path: ids must not become label values.
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      // One histogram serves both latency and request counts (its _count series).
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  }
  return { registry, middleware };
}
