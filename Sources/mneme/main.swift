import Tensor
print(BLASKernel.ensureFittingKernel())
