import Foundation
import Logging
import Tensor

// Before anything else: OpenBLAS picks its kernel when it loads, so a better one needs a re-exec.
let kernelReport = BLASKernel.ensureFittingKernel()
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}
Logger(label: "mneme").info("\(kernelReport)")

// Debian's OpenBLAS 0.3.21 can deadlock in its exit handler (joining a worker thread that waits forever), seen
// after a run that started subprocesses. Everything is flushed and written durably by now, so leave without
// running exit handlers.
var exitCode: Int32 = 0
do {
    var command = try Mneme.parseAsRoot()
    try command.run()
} catch {
    let code = Mneme.exitCode(for: error)
    let message = Mneme.fullMessage(for: error)
    if !message.isEmpty {
        FileHandle(fileDescriptor: code == .success ? 1 : 2).write(Data((message + "\n").utf8))
    }
    exitCode = code.rawValue
}
fflush(nil)
_exit(exitCode)
