import Foundation
import GuardianCore

extension Checks {
    // MARK: integrity

    static func integrity(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "integrity/", &out)
    }
}
