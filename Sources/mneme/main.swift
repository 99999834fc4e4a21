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
Mneme.main()
