/**
 * An `aws-secrets-manager` secret's rotation schedule, for the cache: `DescribeSecret`'s
 * `NextRotationDate` ("the next rotation is scheduled to occur on or before this date"), asked
 * beside `GetSecretValue` for a reference that follows a stage a rotation moves, and never in the
 * way of the read. A failed, denied or slow `DescribeSecret` only leaves the rule's ttl in charge;
 * a denial is remembered for the provider and said once.
 *
 * @module
 */

import type { DescribeSecretCommandOutput } from "../../deps/aws_secrets_manager.ts";
import type { SecretResolutionError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { Client } from "./credentials.ts";
import type { GetInput } from "./reads.ts";

/** The stages a rotation moves: a reference that follows one of them sees a new version after it. */
export const ROTATION_STAGES: ReadonlySet<string> = new Set([
  "AWSCURRENT",
  "AWSPREVIOUS",
  "AWSPENDING",
]);

/**
 * How long `DescribeSecret` may still take once `GetSecretValue` has answered, in milliseconds.
 * Both start together, so this only covers the spread between two answers of one service; later,
 * `DescribeSecret` is aborted and the read goes on without a rotation date.
 */
export const DESCRIBE_GRACE_MS = 500;

/**
 * Whether a read follows a stage that a rotation moves: no `VersionId` (a pinned version never
 * changes) and no stage, or `AWSCURRENT`, `AWSPREVIOUS` or `AWSPENDING` (a custom label is moved
 * by whoever set it, not by the rotation).
 */
export function followsRotation(input: GetInput): boolean {
  return input.VersionId === undefined &&
    (input.VersionStage === undefined || ROTATION_STAGES.has(input.VersionStage));
}

/**
 * Whether a host rule's secret gets the rotation-schedule bound, from plain profile data (no
 * call): the provider block does not set `rotation_schedule: false` and the reference follows a
 * stage a rotation moves. For `explain` and `info`, which read no secret.
 *
 * @param settings The `aws-secrets-manager` provider block.
 * @param ref The rule's `secret:` block.
 */
export function rotationScheduleApplies(
  settings: Readonly<Record<string, unknown>>,
  ref: Readonly<Record<string, unknown>>,
): boolean {
  return settings.rotation_schedule !== false && ref.version_id === undefined &&
    (ref.version_stage === undefined ||
      (typeof ref.version_stage === "string" && ROTATION_STAGES.has(ref.version_stage)));
}

/**
 * The next rotation date of a `DescribeSecret` answer in milliseconds since the epoch; undefined
 * when rotation is off or no date is given.
 */
export function nextRotation(
  out: Pick<DescribeSecretCommandOutput, "RotationEnabled" | "NextRotationDate">,
): number | undefined {
  if (out.RotationEnabled === false) return undefined;
  const ms = out.NextRotationDate instanceof Date ? out.NextRotationDate.getTime() : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

const CREDENTIAL_PROBLEM =
  /^(Expired|UnrecognizedClient|InvalidSignature|SignatureDoesNotMatch|InvalidClientTokenId)/;

/** A `DescribeSecret` in flight. */
export interface RotationLookup {
  /**
   * The next rotation date, once `GetSecretValue` has answered: undefined when `DescribeSecret`
   * failed, was denied, took {@linkcode DESCRIBE_GRACE_MS} longer, or found no schedule. Never
   * throws.
   */
  settle(): Promise<number | undefined>;
  /** Aborts the call (the read failed, nothing will wait for it). */
  cancel(): void;
}

/** What a {@linkcode RotationSchedule} needs from its provider. */
export interface RotationScheduleOptions {
  /** The provider's name, for log lines. */
  readonly provider: string;
  /** `rotation_schedule` of the provider block: false never asks. */
  readonly enabled: boolean;
  /** Where the one denial line and the debug lines go. */
  readonly logger: Logger;
}

/** The rotation schedules of one provider's secrets, and whether it may still ask for them. */
export class RotationSchedule {
  readonly #options: RotationScheduleOptions;
  #denied = false;

  /**
   * Creates the schedule reader of one provider.
   *
   * @param options Provider name, the switch, the logger.
   */
  constructor(options: RotationScheduleOptions) {
    this.#options = options;
  }

  /**
   * Starts `DescribeSecret` beside a read, when the read follows a rotation and asking is on and
   * has not been denied.
   *
   * @param client The provider's client.
   * @param input The read.
   * @param options The read's signal (aborts this call too), its printable reference, and how a
   * failure is classified (the provider's rules: 403 for a denial).
   * @returns The call in flight, or undefined when nothing is asked.
   */
  start(
    client: Client,
    input: GetInput,
    options: {
      readonly signal: AbortSignal;
      readonly reference: string;
      readonly classify: (error: unknown) => SecretResolutionError;
    },
  ): RotationLookup | undefined {
    if (!this.#options.enabled || this.#denied || !followsRotation(input)) return undefined;
    const { signal, reference, classify } = options;
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    type Outcome = { readonly at: number | undefined } | { readonly error: unknown };
    let call: Promise<Outcome>;
    try {
      call = client.describe(input.SecretId, controller.signal).then(
        (out): Outcome => ({ at: nextRotation(out) }),
        (error): Outcome => ({ error }),
      );
    } catch (error) {
      call = Promise.resolve({ error });
    }
    const outcome = call.finally(() => signal.removeEventListener("abort", onAbort));
    return {
      settle: async () => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<"late">((resolve) => {
          timer = setTimeout(() => resolve("late"), DESCRIBE_GRACE_MS);
        });
        const result = await Promise.race([outcome, late]);
        clearTimeout(timer);
        // The read was cancelled meanwhile: the value is still good, the schedule is not needed.
        if (signal.aborted) return undefined;
        if (result === "late") {
          controller.abort(new DOMException("DescribeSecret took too long", "TimeoutError"));
          this.#options.logger.debug(
            "DescribeSecret answered too late; the rule's ttl bounds this read",
            { provider: this.#options.provider, reference },
          );
          return undefined;
        }
        if ("at" in result) return result.at;
        this.#failed(classify(result.error), result.error, reference);
        return undefined;
      },
      cancel: () => controller.abort(new DOMException("The read failed", "AbortError")),
    };
  }

  #failed(error: SecretResolutionError, raw: unknown, reference: string): void {
    const { provider, logger } = this.#options;
    // Credentials that expired or went bad since the read are not a denial of DescribeSecret.
    const name = (raw as { readonly name?: unknown } | null)?.name;
    const credentials = typeof name === "string" && CREDENTIAL_PROBLEM.test(name);
    if (error.status === 403 && !error.transient && !credentials) {
      if (this.#denied) return;
      this.#denied = true;
      logger.info(
        "DescribeSecret is denied: the rotation schedule no longer bounds the cache of this provider's secrets, the rule's ttl does; grant secretsmanager:DescribeSecret, or set rotation_schedule: false in the provider block to stop asking",
        { provider, reference, error: error.reason },
      );
      return;
    }
    logger.debug("DescribeSecret failed; the rule's ttl bounds this read", {
      provider,
      reference,
      error: error.reason,
    });
  }
}
