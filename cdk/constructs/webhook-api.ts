import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ProviderName } from '../../functions/core/recording';

export interface WebhookApiProps {
  /** The function that authenticates, parses and enqueues every webhook. */
  readonly handler: IFunction;
  /** One route `POST /webhooks/{provider}/{sourceId}` per provider. */
  readonly providers: readonly ProviderName[];
  readonly logRetention: RetentionDays;
  /**
   * Steady-state requests per second across the API.
   * @default 50
   */
  readonly rateLimit?: number;
  /**
   * Burst of requests above the rate.
   * @default 100
   */
  readonly burstLimit?: number;
}

/**
 * The public HTTPS endpoint the platforms call. Authentication happens in the function because each
 * platform authenticates differently (a secret token in the URL, a verification header, signed tokens: each descriptor's `webhook.auth`),
 * and a forged request can at most make the worker look the recording up at the source (design.md).
 */
export class WebhookApi extends Construct {
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  public readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: WebhookApiProps) {
    super(scope, id);

    this.api = new HttpApi(this, 'Api', {
      description: 'callvault webhooks',
      createDefaultStage: false,
    });

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit ?? 50, burstLimit: props.burstLimit ?? 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        // The path, not the full URI: a URL token travels in the query string and must not be logged.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const integration = new HttpLambdaIntegration('Webhook', props.handler);
    for (const provider of props.providers) {
      const [route] = this.api.addRoutes({
        path: `/webhooks/${provider}/{sourceId}`,
        methods: [HttpMethod.POST],
        integration,
      });
      if (route) {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: `The ${provider} platform cannot present AWS credentials, a JWT issuer we control or a Lambda authorizer's token; the webhook function authenticates each call itself (per-source secret token or provider signature) before anything is enqueued.`,
        });
      }
    }
  }

  /** Base URL of the webhooks, ending in `/webhooks/`. */
  get webhooksUrl(): string {
    return `${this.stage.url}webhooks/`;
  }
}
