// Config → node-opcua client settings: security mode and policy, user identity.
import { readFileSync } from 'node:fs';
import {
  MessageSecurityMode, SecurityPolicy, UserTokenType, type OPCUACertificateManager, type OPCUAClientOptions,
  type UserIdentityInfo,
} from 'node-opcua';
import { readCertificate } from 'node-opcua-crypto';
import { effectiveSecurityPolicy, type OpcuaBusConfig, type OpcuaSecurityMode, type OpcuaSecurityPolicy } from '../../config/opcua.js';
import { APPLICATION_NAME, applicationUri } from './pki.js';

export const SECURITY_MODE: Record<OpcuaSecurityMode, MessageSecurityMode> = {
  none: MessageSecurityMode.None,
  sign: MessageSecurityMode.Sign,
  sign_and_encrypt: MessageSecurityMode.SignAndEncrypt,
};

export const SECURITY_POLICY: Record<OpcuaSecurityPolicy, SecurityPolicy> = {
  none: SecurityPolicy.None,
  basic256sha256: SecurityPolicy.Basic256Sha256,
  aes128_sha256_rsaoaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  aes256_sha256_rsapss: SecurityPolicy.Aes256_Sha256_RsaPss,
};

export interface ClientSettings {
  dataDir: string;
  certificateManager: OPCUACertificateManager;
}

export function clientOptions(bus: OpcuaBusConfig, settings: ClientSettings): OPCUAClientOptions {
  return {
    applicationName: APPLICATION_NAME,
    applicationUri: applicationUri(settings.dataDir),
    clientCertificateManager: settings.certificateManager,
    securityMode: SECURITY_MODE[bus.security_mode],
    securityPolicy: SECURITY_POLICY[effectiveSecurityPolicy(bus)],
    // Many PLC servers advertise a hostname the gateway cannot resolve; connect to the
    // configured endpoint whatever the server's endpoint list says.
    endpointMustExist: false,
    keepSessionAlive: true,
    requestedSessionTimeout: Math.max(60_000, bus.watchdog_timeout * 2),
    defaultTransactionTimeout: bus.timeout,
    transportTimeout: bus.timeout,
    connectionStrategy: {
      // Retry forever: an unreachable server is an availability state, not an error.
      maxRetry: -1,
      initialDelay: Math.min(500, bus.reconnect_max),
      maxDelay: bus.reconnect_max,
      randomisationFactor: 0.1,
    },
  };
}

export function userIdentity(bus: OpcuaBusConfig): UserIdentityInfo {
  const user = bus.user;
  switch (user.type) {
    case 'anonymous':
      return { type: UserTokenType.Anonymous };
    case 'username':
      return { type: UserTokenType.UserName, userName: user.username, password: user.password };
    case 'certificate':
      return {
        type: UserTokenType.Certificate,
        certificateData: readCertificate(user.cert_file),
        privateKey: readFileSync(user.key_file, 'utf8'),
      };
  }
}

/** What a log line may say about a bus: never the password. */
export function describeBus(bus: OpcuaBusConfig): Record<string, unknown> {
  return {
    endpoint: bus.endpoint,
    security_mode: bus.security_mode,
    security_policy: effectiveSecurityPolicy(bus),
    user: bus.user.type === 'username' ? `username:${bus.user.username}` : bus.user.type,
  };
}

